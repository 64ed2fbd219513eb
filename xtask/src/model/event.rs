//! What happens while a task works, as facts: the runner's events (a job
//! started, printed, finished) and the notices of the mechanisms below it
//! (an engine command line, a line of a build's log, a fallback taken). The
//! layers that do the work emit them; `report/` turns them into words.

use std::sync::Arc;

use crate::model::job::Job;
use crate::model::result::ModuleResult;

/// What happens during a run, in the order it happens.
pub enum Event<'a> {
    Started(&'a Job),
    /// A piece of a module's stderr (only with `live_stderr`).
    Stderr(&'a Job, &'a [u8]),
    /// A piece of a module's stdout (only with `live_stdout`).
    Stdout(&'a Job, &'a [u8]),
    Finished(&'a ModuleResult),
    /// The user asked to stop; running containers are being removed.
    Interrupting,
}

/// Something an engine call or an image build did that a person may want to
/// see (all of it with `--debug`, the notes always).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A command line about to run (an engine call, debootstrap).
    Command(String),
    /// A line of a long command's log; `task` names the command (`building`).
    LogLine {
        task: &'static str,
        line: String,
    },
    /// A long command's log ended.
    LogEnded,
    /// The registry base is not here; the offline one is used instead.
    OfflineFallback {
        wanted: String,
        offline: String,
        suite: String,
    },
    /// An offline base is being built from the Debian archive.
    BuildingBase {
        image: String,
        suite: String,
        mirror: String,
        packages: String,
    },
    BuiltBase {
        image: String,
    },
    /// A test image is being built on `base`.
    BuildingImage {
        reference: String,
        base: String,
    },
    /// Layers a failed build left could not be removed.
    LayersLeft {
        error: String,
    },
    /// A project's environment is being built for a Python.
    BuildingEnvironment {
        project: String,
        python: String,
    },
    /// A run without a project gets the runner's tools (`tools`, comma
    /// separated) for a Python from the package index.
    GettingTools {
        tools: String,
        python: String,
    },
    /// No package index answered: the jobs of this Python run the base
    /// image's own tools (a run without a project).
    ToolsFromBase {
        python: String,
    },
    /// The installer (uv) is being installed into the cache.
    InstallingInstaller {
        folder: String,
    },
}

/// Where notices go: a renderer the task chose (`report::human::notices`),
/// or nowhere.
#[derive(Clone)]
pub struct Notices(Arc<dyn Fn(&Notice) + Send + Sync>);

impl Notices {
    pub fn to(sink: impl Fn(&Notice) + Send + Sync + 'static) -> Notices {
        Notices(Arc::new(sink))
    }

    pub fn send(&self, notice: Notice) {
        (self.0)(&notice)
    }
}

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Notices")
    }
}
