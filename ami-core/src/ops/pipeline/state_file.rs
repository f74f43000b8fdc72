//! Saving a runner's state as a JSON file atomically, and loading it back.
//!
//! The file is `{"kind": ..., "version": 1, "state": {...}}`: the kind tells a pipeline's state
//! from an image schedule's, the version lets a later format be recognised. A save writes a
//! temporary file beside the target, syncs it to disk, renames it over the target and syncs the
//! directory, so a crash leaves either the old file or the new one, never a torn one.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The format version written (and the only one read).
const VERSION: u32 = 1;

/// A state that is kept in a file.
pub(super) trait StateFile: Serialize + DeserializeOwned {
    /// The `kind` written into the file.
    const KIND: &'static str;
    /// What it is, for messages (`pipeline state`).
    const WHAT: &'static str;
}

#[derive(Serialize)]
struct Out<'a, T> {
    kind: &'a str,
    version: u32,
    state: &'a T,
}

#[derive(Deserialize)]
struct In {
    kind: String,
    version: u32,
    state: serde_json::Value,
}

fn error(message: String) -> Error {
    Error::Journal { message }
}

/// Writes `state` to `path` atomically (see the module docs).
pub(super) fn save<T: StateFile>(state: &T, path: &Path) -> Result<()> {
    let what = T::WHAT;
    let name = path.file_name().ok_or_else(|| {
        error(format!(
            "cannot save the {what} to {}: the path names no file; give a file path such as state/{}.json",
            path.display(),
            T::KIND
        ))
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut text = serde_json::to_string_pretty(&Out {
        kind: T::KIND,
        version: VERSION,
        state,
    })
    .map_err(|e| error(format!("cannot encode the {what}: {e}")))?;
    text.push('\n');

    // A name no other save (of this process or another) uses at the same time.
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let written = write_synced(&tmp, text.as_bytes())
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| ("rename", e, tmp.clone())));
    if let Err((verb, e, at)) = written {
        // Best effort: the target is untouched either way.
        let _ = std::fs::remove_file(&tmp);
        return Err(error(format!(
            "cannot save the {what} to {}: {verb} {} failed: {e}; check that the directory exists and is writable",
            path.display(),
            at.display()
        )));
    }
    sync_dir(&dir).map_err(|e| {
        error(format!(
            "saved the {what} to {}, but syncing the directory {} failed ({e}), so the save may not survive a power loss; save again",
            path.display(),
            dir.display()
        ))
    })
}

type IoFailure = (&'static str, std::io::Error, PathBuf);

fn write_synced(tmp: &Path, bytes: &[u8]) -> std::result::Result<(), IoFailure> {
    let fail = |verb: &'static str| move |e| (verb, e, tmp.to_path_buf());
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(fail("create"))?;
    f.write_all(bytes).map_err(fail("write"))?;
    f.sync_all().map_err(fail("sync"))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    // Directories cannot be opened for syncing here; the rename is as durable as the platform
    // makes it.
    Ok(())
}

/// Reads the state at `path`: `Ok(None)` if there is no file there.
pub(super) fn load<T: StateFile>(path: &Path) -> Result<Option<T>> {
    let what = T::WHAT;
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(error(format!(
                "cannot read the {what} file {}: {e}; check its permissions",
                path.display()
            )))
        }
    };
    let damaged = |detail: String| {
        error(format!(
            "the {what} file {} is damaged ({detail}); restore it from a copy, or delete it to start afresh (which forgets the history, the failures count, the last parent built and the schedule position)",
            path.display()
        ))
    };
    let file: In = serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
    if file.kind != T::KIND {
        return Err(error(format!(
            "the file {} holds a {:?} state, not a {what} ({:?}); give the path of the {what} file",
            path.display(),
            file.kind,
            T::KIND
        )));
    }
    if file.version != VERSION {
        return Err(error(format!(
            "the {what} file {} has format version {}, and this version of the library reads only version {VERSION}; use the library version that wrote it",
            path.display(),
            file.version
        )));
    }
    serde_json::from_value(file.state)
        .map(Some)
        .map_err(|e| damaged(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Counter {
        n: u32,
    }

    impl StateFile for Counter {
        const KIND: &'static str = "counter";
        const WHAT: &'static str = "counter state";
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ami-state-file-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn save_replaces_the_file_whole_and_leaves_no_temporary_file() {
        let d = dir("replace");
        let path = d.join("c.json");
        assert_eq!(load::<Counter>(&path).unwrap(), None);
        save(&Counter { n: 1 }, &path).unwrap();
        save(&Counter { n: 2 }, &path).unwrap();
        assert_eq!(load::<Counter>(&path).unwrap(), Some(Counter { n: 2 }));
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["c.json"]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("\"kind\": \"counter\"") && text.contains("\"version\": 1"),
            "{text}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn an_unknown_version_or_kind_is_refused_naming_the_path() {
        let d = dir("version");
        let path = d.join("c.json");
        std::fs::write(&path, r#"{"kind":"counter","version":2,"state":{"n":1}}"#).unwrap();
        let e = load::<Counter>(&path).unwrap_err();
        assert_eq!(e.code(), "Journal");
        assert!(e.message().contains("format version 2"), "{}", e.message());
        assert!(
            e.message().contains(&path.display().to_string()),
            "{}",
            e.message()
        );
        std::fs::write(&path, r#"{"kind":"other","version":1,"state":{"n":1}}"#).unwrap();
        let e = load::<Counter>(&path).unwrap_err();
        assert!(e.message().contains("\"other\""), "{}", e.message());
        std::fs::write(&path, r#"{"kind":"counter","version":1,"state":{"n":"x"}}"#).unwrap();
        let e = load::<Counter>(&path).unwrap_err();
        assert!(e.message().contains("damaged"), "{}", e.message());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_path_without_a_file_name_is_refused() {
        let e = save(&Counter { n: 1 }, Path::new("/")).unwrap_err();
        assert_eq!(e.code(), "Journal");
        assert!(e.message().contains("names no file"), "{}", e.message());
    }
}
