//! `cargo xtask watch` as a child process, for the tests of watch rounds.

use super::xtask_command;

/// `cargo xtask watch` running as a child, its output collected as it comes.
pub struct Watching {
    child: std::process::Child,
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Watching {
    pub fn start(args: &[&str]) -> Watching {
        Watching::start_with(xtask_command(args))
    }

    pub fn start_with(mut command: std::process::Command) -> Watching {
        use std::io::Read;
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("xtask binary runs");
        let collect = |mut stream: Box<dyn Read + Send>| {
            let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
            let sink = std::sync::Arc::clone(&text);
            std::thread::spawn(move || {
                let mut buffer = [0; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buffer) {
                    sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
                }
            });
            text
        };
        let stdout = collect(Box::new(child.stdout.take().unwrap()));
        let stderr = collect(Box::new(child.stderr.take().unwrap()));
        Watching { child, stdout, stderr }
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn dump(&self) -> String {
        format!("--- stdout ---\n{}\n--- stderr ---\n{}", self.stdout(), self.stderr())
    }

    /// Waits until `done(stdout, stderr)` holds; fails when watch ended or took too long.
    pub fn wait_for(&mut self, what: &str, done: impl Fn(&str, &str) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
        while !done(&self.stdout(), &self.stderr()) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("watch ended ({status}) before {what}:\n{}", self.dump());
            }
            assert!(std::time::Instant::now() < deadline, "no {what} in time:\n{}", self.dump());
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Sends SIGINT (what Ctrl-C sends) and returns the exit code.
    pub fn interrupt(&mut self) -> i32 {
        let pid = self.child.id().to_string();
        assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the readers take the last output.
                std::thread::sleep(std::time::Duration::from_millis(200));
                return status.code().unwrap_or(-1);
            }
            assert!(std::time::Instant::now() < deadline, "watch did not stop on SIGINT:\n{}", self.dump());
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// The ids of the runs (rounds) it started.
    pub fn run_ids(&self) -> Vec<String> {
        let stderr = self.stderr();
        stderr
            .lines()
            .filter_map(|l| l.strip_prefix("run "))
            .map(|rest| rest.split(':').next().unwrap().to_string())
            .collect()
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.interrupt();
        }
    }
}

pub fn closing_lines(stdout: &str) -> usize {
    stdout.lines().filter(|l| l.ends_with(" failed") && l.contains(" passed, ")).count()
}
