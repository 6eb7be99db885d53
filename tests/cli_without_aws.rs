//! A new user runs `fixpoint sweep` on the example map from a laptop with no AWS credentials:
//! Fixpoint says so once, in one line with the fix, marks the AWS nodes `unknown` with a
//! short reason, and keeps the SDK's own multi-line warnings out of the way.

use std::process::Command;

#[test]
fn without_aws_credentials_the_sweep_says_so_once_and_marks_aws_nodes_unknown() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fixpoint"));
    cmd.args(["sweep", "--topology", "topology/payments-api.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // No ~/.aws, no AWS_* variables; instance metadata is not probed (this machine has
        // none, and the probe's wait is not what this test is about).
        .env("HOME", home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .env("FIXPOINT_ENV_FILE", home.path().join(".env"));
    let out = cmd.output().expect("fixpoint runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);

    assert_eq!(
        out.status.code(),
        Some(1),
        "something is not healthy\n{stdout}\n{stderr}"
    );
    let said = format!("{stdout}{stderr}");
    assert_eq!(
        said.matches("no AWS credentials found").count(),
        2,
        "once in the log line, once as the table's note\n{said}"
    );
    assert!(said.contains("AWS_PROFILE"), "{said}");
    assert!(said.contains("AWS_ENDPOINT_URL"), "{said}");
    for noise in ["HttpResponse", "aws_config", "dispatch failure", "EC2 IMDS"] {
        assert!(!said.contains(noise), "SDK noise `{noise}` in\n{said}");
    }
    // Every AWS node is unknown with the short reason; the others were still checked.
    let aws_rows: Vec<&str> = stdout
        .lines()
        .filter(|l| {
            [" ecs ", " cloudwatch ", " sqs ", " lambda "]
                .iter()
                .any(|s| l.contains(s))
        })
        .collect();
    assert!(aws_rows.len() >= 4, "{stdout}");
    for row in &aws_rows {
        assert!(row.contains("unknown"), "{row}");
        assert!(row.contains("not checked: no AWS credentials"), "{row}");
    }
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("http-health") && !l.contains("no AWS credentials")),
        "{stdout}"
    );
}
