//! moto_server, the AWS stand-in (ECS, CloudWatch Logs, SQS, Lambda, IAM on one port), started
//! by the tests from the repo's venv on a free loopback port. Missing moto fails the test with
//! how to install it; it never skips.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The account moto answers as.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

const INSTALL: &str = "moto_server is missing: run ./scripts/test once, or \
     `python3 -m venv .venv && .venv/bin/pip install 'moto[server]==5.2.5'` in the repo root";

pub struct Moto {
    endpoint: String,
    log: PathBuf,
    // Closing this pipe is what stops moto (see `spawn`).
    stdin: Mutex<Option<ChildStdin>>,
    child: Mutex<Child>,
}

impl Moto {
    /// Starts a fresh moto_server, waits until it answers, resets it and turns Lambda's
    /// Docker use off (functions are stored, never run).
    pub fn start() -> Moto {
        let binary = binary();
        let mut last_log = String::new();
        // A port taken between choosing and binding it makes moto exit: choose again.
        for _ in 0..3 {
            let moto = spawn(&binary);
            if moto.wait_until_answering() {
                moto.reset();
                moto.post("/moto-api/config", r#"{"lambda":{"use_docker":false}}"#);
                return moto;
            }
            last_log = std::fs::read_to_string(&moto.log).unwrap_or_default();
        }
        panic!(
            "moto_server ({}) did not start; its log:\n{last_log}",
            binary.display()
        );
    }

    /// One moto for this test process, started on first use. Statics are never dropped: moto
    /// ends when this process exits and its stdin closes.
    pub fn shared() -> &'static Moto {
        static MOTO: OnceLock<Moto> = OnceLock::new();
        MOTO.get_or_init(Moto::start)
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Forgets every resource in every service.
    pub fn reset(&self) {
        self.post("/moto-api/reset", "");
    }

    /// Creates an IAM role Lambda may assume (moto checks that a function's role exists) and
    /// returns its ARN. There is no IAM SDK in this crate: this is IAM's query protocol by hand.
    pub fn create_lambda_role(&self, name: &str) -> String {
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let body = format!(
            "Action=CreateRole&Version=2010-05-08&RoleName={name}&AssumeRolePolicyDocument={}",
            form_encode(policy)
        );
        let auth = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0";
        let (status, text) = http(
            &self.endpoint,
            "POST",
            "/",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Authorization", auth),
            ],
            &body,
        );
        let arn = format!("arn:aws:iam::{ACCOUNT}:role/{name}");
        assert!(
            (status == 200 && text.contains(&arn)) || text.contains("EntityAlreadyExists"),
            "moto did not create IAM role {name}: HTTP {status}: {text}"
        );
        arn
    }

    fn post(&self, path: &str, body: &str) {
        let (status, text) = http(
            &self.endpoint,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body,
        );
        assert!(
            (200..300).contains(&status),
            "moto POST {path}: HTTP {status}: {text}"
        );
    }

    fn wait_until_answering(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.lock().unwrap().try_wait() {
                return false;
            }
            if let Ok(mut s) = TcpStream::connect(self.endpoint.trim_start_matches("http://")) {
                let request =
                    "GET /moto-api/data.json HTTP/1.1\r\nHost: moto\r\nConnection: close\r\n\r\n";
                let mut head = [0u8; 12];
                if s.write_all(request.as_bytes()).is_ok()
                    && s.read_exact(&mut head).is_ok()
                    && head.starts_with(b"HTTP/1.1 200")
                {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        drop(self.stdin.lock().unwrap().take());
        let mut child = self.child.lock().unwrap();
        let _ = child.wait();
    }
}

fn binary() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("moto_server"))
        .find(|p| p.exists());
    on_path.unwrap_or_else(|| panic!("{INSTALL}"))
}

/// moto under a small shell that ends it when our end of its stdin closes, so a test process
/// that exits (or is killed) leaves no server behind. The shell itself exits with moto.
fn spawn(binary: &std::path::Path) -> Moto {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let log = std::env::temp_dir().join(format!("fixpoint-moto-{}-{port}.log", std::process::id()));
    let out = std::fs::File::create(&log).expect("moto log file");
    let script = r#"exec 3<&0
"$0" -H 127.0.0.1 -p "$1" </dev/null &
m=$!
(read _ <&3; kill $m 2>/dev/null) &
wait $m"#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(binary)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(out.try_clone().expect("moto log file"))
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}\n{INSTALL}", binary.display()));
    let stdin = child.stdin.take();
    Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
        log,
        stdin: Mutex::new(stdin),
        child: Mutex::new(child),
    }
}

/// A blocking HTTP/1.1 request, enough for moto's control API (callable from any thread or
/// runtime, and before one exists).
pub fn http(
    endpoint: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let addr = endpoint.trim_start_matches("http://");
    let mut stream =
        TcpStream::connect(addr).unwrap_or_else(|e| panic!("cannot reach moto at {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream
        .write_all(request.as_bytes())
        .expect("request to moto");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("response from moto");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("moto answered {method} {path} with no status line: {response}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Points every AWS SDK client this process builds from the standard chain (as
/// `SkillContext::aws` does) at `endpoint`, with static test credentials and `us-east-1`.
///
/// # Safety
/// Changes the process environment: call it once, before any other thread reads the
/// environment (from a `OnceLock` initialiser that every test passes through first).
pub unsafe fn point_aws_sdk_at(endpoint: &str) {
    let service_overrides: Vec<String> = std::env::vars()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("AWS_ENDPOINT_URL_"))
        .collect();
    // SAFETY: the caller promises no other thread touches the environment meanwhile.
    unsafe {
        for key in service_overrides.iter().map(String::as_str).chain([
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_DEFAULT_REGION",
        ]) {
            std::env::remove_var(key);
        }
        std::env::set_var("AWS_ENDPOINT_URL", endpoint);
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        std::env::set_var("AWS_REGION", REGION);
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    }
}
