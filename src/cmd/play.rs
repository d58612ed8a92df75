//! `kaccess audit play SESSION FILES...|--config broker.yaml [--stream N]
//! [--speed X]`: checks
//! the chain and the recording's SHA-256 and size against its record,
//! then writes the recording's output events to stdout with their timing
//! (divided by `--speed`; a pause longer than [`IDLE_CAP`] is cut to it,
//! as asciinema's idle limit does).

use crate::audit::streams::{self, Stream};
use crate::audit::verify::verify_files;
use crate::cli::AuditPlayArgs;
use crate::error::{Exit, Failure};
use anyhow::{Context, Result};
use std::io::{BufRead, Write};
use std::time::Duration;

/// The longest pause a replay makes.
pub const IDLE_CAP: Duration = Duration::from_secs(2);

pub fn run(args: AuditPlayArgs) -> Result<Exit> {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        return Err(
            Failure::usage(format!("`--speed {}`: must be above 0", args.speed))
                .help("use e.g. `--speed 2` for twice as fast, `--speed 0.5` for half speed")
                .into(),
        );
    }
    let paths = files_of(&args)?;
    let files = paths
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>();
    let names = files.join(" ");
    for (path, report) in verify_files(&paths)? {
        if let Some((line, why)) = &report.broken {
            return Err(Failure::error(format!(
                "audit log `{}` is broken at line {line}: {why}; not playing from it",
                path.display()
            ))
            .help(format!(
                "run `kaccess audit verify {names}` for the whole report"
            ))
            .into());
        }
    }
    eprintln!("audit chain of {names}: intact");
    let streams = streams::of_session(&paths, &args.session)?;
    let stream = pick(&streams, &args, &names)?;
    let rec = stream.recording().expect("picked a recorded stream");
    crate::proxy::recording::check(&stream.dir, rec).map_err(|why| {
        Failure::error(format!("not playing stream {}: {why}", stream.number)).help(format!(
            "restore the recording from the broker's backups; `kaccess audit verify {names}` \
                 checks every recording"
        ))
    })?;
    eprintln!(
        "playing stream {} of session {}: {} (recording sha256 {} matches its record)",
        stream.number,
        args.session,
        stream.describe(),
        rec.sha256
    );
    let path = stream.dir.join(&rec.file);
    let file = std::fs::File::open(&path)
        .with_context(|| format!("cannot open the recording `{}`", path.display()))?;
    play(
        std::io::BufReader::new(file),
        args.speed,
        &mut std::io::stdout().lock(),
    )
    .with_context(|| format!("cannot play the recording `{}`", path.display()))?;
    Ok(Exit::Ok)
}

/// The files named, or the `audit.file` of `--config`: recordings are kept
/// beside an audit file only, so a broker whose chain is in PostgreSQL has
/// none to play.
fn files_of(args: &AuditPlayArgs) -> Result<Vec<std::path::PathBuf>> {
    let Some(config) = &args.input.config else {
        return Ok(args.input.files.clone());
    };
    match crate::broker::config::BrokerConfig::load(config)?
        .audit
        .file
    {
        Some(file) => Ok(vec![file]),
        None => Err(Failure::error(format!(
            "`{}` keeps its audit chain in PostgreSQL and has no `audit.file`, and recordings \
             are kept only beside an audit file: this broker has none to play",
            config.display()
        ))
        .help(
            "see the session's streams with `kaccess audit show SESSION --config broker.yaml`; \
             to record, give the broker an `audit.file` and `proxy.record: optional`",
        )
        .into()),
    }
}

fn pick<'a>(streams: &'a [Stream], args: &AuditPlayArgs, names: &str) -> Result<&'a Stream> {
    let session = &args.session;
    if streams.is_empty() {
        return Err(Failure::error(format!(
            "session {session} has no exec, attach or port-forward stream in these audit logs"
        ))
        .help(format!(
            "check the session id (`session_id` in the records), and name every rotated file: \
             `kaccess audit play {session} OLDER... {names}`"
        ))
        .into());
    }
    let list = || {
        streams
            .iter()
            .map(|s| {
                format!(
                    "{}: {}{}",
                    s.number,
                    s.describe(),
                    if s.recording().is_some() {
                        " (recorded)"
                    } else {
                        ""
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let stream = match args.stream {
        Some(n) => streams.iter().find(|s| s.number == n).ok_or_else(|| {
            Failure::usage(format!(
                "`--stream {n}`: session {session} has {} streams ({})",
                streams.len(),
                list()
            ))
            .help(format!("pick one of them: `kaccess audit play {session} {names} --stream 1`"))
        })?,
        None => streams.iter().find(|s| s.recording().is_some()).ok_or_else(|| {
            Failure::error(format!(
                "session {session} has no recorded stream ({}); stream 1: {}",
                list(),
                streams[0].unrecorded()
            ))
            .help("recordings are made of exec and attach under the cluster's `proxy.record: optional` or `required`")
        })?,
    };
    if stream.recording().is_none() {
        return Err(Failure::error(format!(
            "stream {} of session {session} ({}) cannot be played: {}",
            stream.number,
            stream.describe(),
            stream.unrecorded()
        ))
        .help(format!("the session's streams: {}", list()))
        .into());
    }
    Ok(stream)
}

/// Writes the output (`o`) events of an asciicast v2 recording to `out`,
/// each at its time divided by `speed`, pauses capped at [`IDLE_CAP`].
pub fn play(reader: impl BufRead, speed: f64, out: &mut impl Write) -> Result<()> {
    let mut lines = reader.lines();
    let header = lines.next().context("the recording is empty")??;
    let header: serde_json::Value =
        serde_json::from_str(&header).context("the recording's header is not JSON")?;
    anyhow::ensure!(
        header["version"] == 2,
        "the recording is not asciicast version 2"
    );
    let mut last = 0.0f64;
    for (i, line) in lines.enumerate() {
        let line = line?;
        let (at, code, data): (f64, String, String) =
            serde_json::from_str(&line).with_context(|| {
                format!("event {} of the recording is not [time, code, data]", i + 1)
            })?;
        if code != "o" {
            continue;
        }
        let pause = Duration::from_secs_f64(((at - last) / speed).max(0.0)).min(IDLE_CAP);
        last = at;
        if !pause.is_zero() {
            out.flush()?;
            std::thread::sleep(pause);
        }
        out.write_all(data.as_bytes())?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const CAST: &str = "{\"version\":2,\"width\":80,\"height\":24,\"timestamp\":0}\n\
        [0.100000, \"o\", \"hel\"]\n\
        [0.200000, \"i\", \"typed\"]\n\
        [0.300000, \"o\", \"lo\\n\"]\n\
        [0.400000, \"m\", \"{}\"]\n";

    #[test]
    fn only_output_is_played_in_order_with_pauses_divided_by_speed() {
        let mut out = Vec::new();
        let t = Instant::now();
        play(CAST.as_bytes(), 1.0, &mut out).unwrap();
        assert_eq!(out, b"hello\n");
        assert!(
            t.elapsed() >= Duration::from_millis(280),
            "{:?}",
            t.elapsed()
        );
        let t = Instant::now();
        play(CAST.as_bytes(), 100.0, &mut Vec::new()).unwrap();
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn long_pauses_are_capped() {
        let cast = "{\"version\":2,\"width\":80,\"height\":24}\n[3600.0, \"o\", \"late\"]\n";
        let t = Instant::now();
        let mut out = Vec::new();
        play(cast.as_bytes(), 1.0, &mut out).unwrap();
        assert_eq!(out, b"late");
        let took = t.elapsed();
        assert!(
            took >= IDLE_CAP && took < IDLE_CAP + Duration::from_secs(1),
            "{took:?}"
        );
    }

    #[test]
    fn a_recording_that_is_not_asciicast_v2_is_refused() {
        let err = play("{\"version\":1}\n".as_bytes(), 1.0, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");
    }
}
