//! `parity merge-junit`: one JUnit report from the reports of several CI shards (`parity check --shard K/N
//! --format junit`), for the CI systems that take a single file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesStart, BytesText, Event};
use quick_xml::reader::Reader;

#[derive(Args)]
pub struct MergeJunitArgs {
    /// Where to write the merged report.
    #[arg(long, short, value_name = "FILE")]
    output: PathBuf,
    /// The reports to merge, in order.
    #[arg(value_name = "REPORT", required = true)]
    reports: Vec<PathBuf>,
}

pub fn run(args: MergeJunitArgs) -> anyhow::Result<ExitCode> {
    let texts = args
        .reports
        .iter()
        .map(|path| std::fs::read_to_string(path).with_context(|| format!("{}", path.display())).map(|t| (path, t)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let inputs: Vec<(&Path, &str)> = texts.iter().map(|(p, t)| (p.as_path(), t.as_str())).collect();
    let merged = merge(&inputs)?;
    parity_capture::store::write_atomic(&args.output, merged.as_bytes())
        .with_context(|| format!("writing {}", args.output.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// Every `<testsuite>` of every report, under one `<testsuites>` whose counts are their sums.
pub fn merge(reports: &[(&Path, &str)]) -> anyhow::Result<String> {
    let mut suites: Vec<Event<'static>> = Vec::new();
    let (mut tests, mut failures, mut errors) = (0u64, 0u64, 0u64);
    for (path, text) in reports {
        let mut reader = Reader::from_str(text);
        let mut depth_in_suite = 0usize;
        let mut found = 0;
        loop {
            let position = reader.buffer_position();
            let event =
                reader.read_event().with_context(|| format!("{}: byte {position}: not valid XML", path.display()))?;
            match &event {
                Event::Eof => break,
                Event::Start(e) if depth_in_suite == 0 && e.name().into_inner() == "testsuite" => {
                    found += 1;
                    let count = |name: &str| attribute(e, name, path).map(|v| v.unwrap_or(0));
                    tests += count("tests")?;
                    failures += count("failures")?;
                    errors += count("errors")?;
                    suites.push(Event::Text(BytesText::from_escaped("\n  ")));
                    depth_in_suite = 1;
                }
                Event::Empty(e) if depth_in_suite == 0 && e.name().into_inner() == "testsuite" => {
                    found += 1;
                    tests += attribute(e, "tests", path)?.unwrap_or(0);
                    failures += attribute(e, "failures", path)?.unwrap_or(0);
                    errors += attribute(e, "errors", path)?.unwrap_or(0);
                    suites.push(Event::Text(BytesText::from_escaped("\n  ")));
                    suites.push(event.clone().into_owned());
                    continue;
                }
                Event::Start(_) if depth_in_suite > 0 => depth_in_suite += 1,
                Event::End(_) if depth_in_suite > 0 => depth_in_suite -= 1,
                _ => {}
            }
            let ends_suite =
                matches!(&event, Event::End(e) if depth_in_suite == 0 && e.name().into_inner() == "testsuite");
            if depth_in_suite > 0 || ends_suite {
                suites.push(event.into_owned());
            }
        }
        if found == 0 {
            bail!("{}: no <testsuite> element: is it a JUnit report?", path.display());
        }
    }
    // No re-indenting: a failure's body is text, and whitespace inside it is part of it.
    let mut writer = Writer::new(Vec::new());
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer.get_mut().push(b'\n');
    let mut root = BytesStart::new("testsuites");
    root.push_attribute(("name", "parity"));
    for (name, value) in [("tests", tests), ("failures", failures), ("errors", errors)] {
        root.push_attribute((name, value.to_string().as_str()));
    }
    writer.write_event(Event::Start(root))?;
    for event in suites {
        writer.write_event(event)?;
    }
    writer.get_mut().push(b'\n');
    writer.write_event(Event::End(quick_xml::events::BytesEnd::new("testsuites")))?;
    Ok(String::from_utf8(writer.into_inner())? + "\n")
}

/// A numeric attribute of a `<testsuite>`, `None` when absent.
fn attribute(element: &BytesStart, name: &str, path: &Path) -> anyhow::Result<Option<u64>> {
    let Some(attribute) =
        element.try_get_attribute(name).with_context(|| format!("{}: a bad attribute", path.display()))?
    else {
        return Ok(None);
    };
    let value = attribute
        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
        .with_context(|| format!("{}: attribute {name}", path.display()))?;
    value.parse().map(Some).with_context(|| format!("{}: <testsuite {name}=\"{value}\">: not a count", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="parity" tests="2" failures="1" errors="0">
  <testsuite name="alpha" tests="2" failures="1" errors="0" skipped="0">
    <testcase classname="parity.alpha.session-01" name="session-01/0001 POST /v1/responses"/>
    <testcase classname="parity.alpha.session-01" name="session-01/0002 POST /v1/responses">
      <failure type="divergence" message="1 divergence (1 prompt)">a &lt;b&gt;</failure>
    </testcase>
  </testsuite>
</testsuites>
"#;
    const B: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="parity" tests="1" failures="0" errors="1">
  <testsuite name="beta" tests="1" failures="0" errors="1" skipped="0">
    <testcase classname="parity.beta" name="beta">
      <error message="no baseline"/>
    </testcase>
  </testsuite>
</testsuites>
"#;

    #[test]
    fn suites_are_kept_whole_and_counts_summed() {
        let merged = merge(&[(Path::new("a.xml"), A), (Path::new("b.xml"), B)]).unwrap();
        assert!(merged.contains(r#"<testsuites name="parity" tests="3" failures="1" errors="1">"#), "{merged}");
        assert_eq!(merged.matches("<testsuite ").count(), 2);
        assert!(merged.contains("a &lt;b&gt;</failure>"), "text stays escaped: {merged}");
        assert!(merged.contains(r#"<error message="no baseline"/>"#), "{merged}");
        // What comes out reads back as one report of both.
        let again = merge(&[(Path::new("m.xml"), &merged)]).unwrap();
        assert!(again.contains(r#"tests="3" failures="1" errors="1""#), "{again}");
    }

    #[test]
    fn what_is_not_a_junit_report_is_named() {
        let e = merge(&[(Path::new("x.xml"), "<html></html>")]).unwrap_err().to_string();
        assert!(e.contains("x.xml: no <testsuite> element"), "{e}");
        let e = merge(&[(Path::new("y.xml"), "<testsuites><testsuite tests=\"many\"></testsuite></testsuites>")])
            .unwrap_err();
        assert!(format!("{e:#}").contains("y.xml: <testsuite tests=\"many\">: not a count"), "{e:#}");
    }
}
