//! The search page in a real browser: headless Chromium, driven over the
//! DevTools protocol on a pipe (fds 3 and 4), types a question as a user
//! would and reads what the page rendered. Also checks that the page makes
//! no request outside the server and fits a phone's width. A screenshot is
//! kept at `target/serve-page.png` (and `serve-page-phone.png`).
//!
//! Chromium comes from the Debian package `chromium`, installed by the test
//! itself on a machine without it when it runs as root ([`chromium`]);
//! `QASEARCH_CHROMIUM` names another binary.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::serve::Served;
use crate::util::{self, Work};

/// The Chromium binary: `QASEARCH_CHROMIUM`, else one on the PATH, else
/// Debian's package `chromium` installed here and now when the tests run as
/// root with apt-get (as the suite provisions PostgreSQL from `pgserver`);
/// otherwise the test fails with the one command to run.
pub fn chromium() -> &'static str {
    static FOUND: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    FOUND.get_or_init(|| {
        if let Ok(c) = std::env::var("QASEARCH_CHROMIUM") {
            return c;
        }
        if let Some(c) = chromium_on_path() {
            return c;
        }
        install_chromium();
        chromium_on_path().expect("chromium is on the PATH once apt-get installed it")
    })
}

fn chromium_on_path() -> Option<String> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(str::to_string)
}

/// `apt-get update && apt-get install chromium`, as root (or through
/// `sudo` when it needs no password).
fn install_chromium() {
    let runs = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    assert!(
        runs("apt-get", &["--version"]) && (root || runs("sudo", &["-n", "true"])),
        "no Chromium found: run `sudo apt-get install chromium` (Debian's package) \
         and the tests again, or name a binary with QASEARCH_CHROMIUM"
    );
    eprintln!("browser tests: installing Debian's chromium with apt-get (once)");
    for args in [
        &["update", "-qq"][..],
        &["install", "-y", "-qq", "chromium"][..],
    ] {
        // sudo clears the environment: the setting goes through `env`.
        let mut cmd = Command::new(if root { "env" } else { "sudo" });
        if !root {
            cmd.args(["-n", "env"]);
        }
        let out = cmd
            .args(["DEBIAN_FRONTEND=noninteractive", "apt-get"])
            .args(args)
            .output()
            .expect("apt-get runs");
        assert!(
            out.status.success(),
            "apt-get {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Chromium with the DevTools protocol on a pipe: messages are JSON, each
/// ended by a NUL byte; fd 3 is what it reads, fd 4 what it writes.
struct Browser {
    child: Child,
    to: std::fs::File,
    from: Receiver<Value>,
    next_id: u64,
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: pipe2 succeeded: both descriptors are open and ours alone.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

impl Browser {
    fn start() -> Browser {
        use std::os::fd::AsRawFd;
        let profile = tempfile::tempdir().unwrap();
        let (their_in, our_out) = pipe();
        let (our_in, their_out) = pipe();
        let (a, b) = (their_in.as_raw_fd(), their_out.as_raw_fd());
        let mut cmd = Command::new(chromium());
        cmd.args([
            "--headless=new",
            "--remote-debugging-pipe",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--metrics-recording-only",
            "--mute-audio",
            "--window-size=1024,900",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // Out of the way of 3 and 4 first, then into place (dup2
                // clears close-on-exec on the copies).
                let a2 = libc::fcntl(a, libc::F_DUPFD_CLOEXEC, 10);
                let b2 = libc::fcntl(b, libc::F_DUPFD_CLOEXEC, 10);
                if a2 < 0 || b2 < 0 || libc::dup2(a2, 3) < 0 || libc::dup2(b2, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("chromium starts");
        drop((their_in, their_out));
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::fs::File::from(our_in);
        std::thread::spawn(move || {
            let mut r = BufReader::new(reader);
            loop {
                let mut buf = Vec::new();
                match r.read_until(0, &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        buf.pop();
                        if let Ok(v) = serde_json::from_slice::<Value>(&buf) {
                            if tx.send(v).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
        Browser {
            child,
            to: std::fs::File::from(our_out),
            from: rx,
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        }
    }

    /// Sends a command (to a page's session if given) and waits for its result.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        self.to.write_all(&bytes).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.from.recv_timeout(left) {
                Ok(v) if v["id"] == id => {
                    assert!(v.get("error").is_none(), "{method}: {v}");
                    return v["result"].clone();
                }
                Ok(event) => self.events.push(event),
                Err(RecvTimeoutError::Timeout) => panic!("{method}: no reply in 60 s"),
                Err(RecvTimeoutError::Disconnected) => panic!("{method}: chromium went away"),
            }
        }
    }

    /// Evaluates JavaScript in the page and returns its value.
    fn eval(&mut self, session: &str, expression: &str) -> Value {
        let r = self.call(
            Some(session),
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Polls `expression` until it is true.
    fn wait_for(&mut self, session: &str, expression: &str) {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            if self.eval(session, expression) == json!(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("waited 30 s for {expression}");
    }

    fn screenshot(&mut self, session: &str, name: &str) {
        let shot = self.call(
            Some(session),
            "Page.captureScreenshot",
            json!({"format": "png"}),
        );
        let png = base64::decode(shot["data"].as_str().unwrap()).expect("base64");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = util::repo().join("target").join(name);
        std::fs::write(&path, png).unwrap();
    }

    /// The whole page, not only the window, to `target/NAME`.
    fn screenshot_page(&mut self, session: &str, name: &str) {
        let size =
            self.call(Some(session), "Page.getLayoutMetrics", json!({}))["cssContentSize"].clone();
        let shot = self.call(
            Some(session),
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}}),
        );
        let png = base64::decode(shot["data"].as_str().unwrap()).expect("base64");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(util::repo().join("target").join(name), png).unwrap();
    }

    /// A new tab on `url`, with its network, console and log reported;
    /// gives its session once the page has loaded.
    fn open(&mut self, url: &str) -> String {
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        let session = attached["sessionId"].as_str().unwrap().to_string();
        for domain in ["Network", "Page", "Runtime", "Log"] {
            self.call(Some(&session), &format!("{domain}.enable"), json!({}));
        }
        self.call(Some(&session), "Page.navigate", json!({"url": url}));
        self.wait_for(&session, "document.readyState === 'complete'");
        session
    }

    /// Console errors, uncaught exceptions and error log entries so far.
    fn errors(&self) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| {
                e["method"] == "Runtime.exceptionThrown"
                    || (e["method"] == "Runtime.consoleAPICalled" && e["params"]["type"] == "error")
                    || (e["method"] == "Log.entryAdded" && e["params"]["entry"]["level"] == "error")
            })
            .collect()
    }

    /// Types text into the focused element and presses Enter, as a keyboard does.
    fn type_and_enter(&mut self, session: &str, text: &str) {
        self.call(Some(session), "Input.insertText", json!({"text": text}));
        for kind in ["keyDown", "keyUp"] {
            let mut p =
                json!({"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13});
            if kind == "keyDown" {
                p["text"] = json!("\r");
            }
            self.call(Some(session), "Input.dispatchKeyEvent", p);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the page shows now: the status line and each answer's parts.
const RENDERED: &str = r#"JSON.stringify({
  state: document.getElementById('state').textContent,
  abstain: document.getElementById('state').classList.contains('abstain'),
  corpus: document.getElementById('corpus').textContent,
  focused: document.activeElement && document.activeElement.id,
  divider: document.querySelector('#results li.divider') !== null,
  results: Array.from(document.querySelectorAll('#results li:not(.divider)')).map(li => ({
    question: li.querySelector('.question').textContent,
    answer: li.querySelector('.answer').textContent,
    marked: Array.from(li.querySelectorAll('mark')).map(m => m.textContent),
    meta: li.querySelector('.meta').textContent,
    fields: li.querySelector('.fields') && li.querySelector('.fields').textContent,
    shown: li.querySelector('.answer').innerText,
    paragraphs: li.querySelectorAll('.answer p').length,
    code: Array.from(li.querySelectorAll('.answer pre')).map(p => p.textContent),
    guess: li.classList.contains('guess'),
  })),
  width: document.documentElement.scrollWidth,
})"#;

fn rendered(b: &mut Browser, session: &str) -> Value {
    serde_json::from_str(b.eval(session, RENDERED).as_str().unwrap()).unwrap()
}

/// Types `question` over the box's text, waits until `until` holds, and
/// gives what the page shows then.
fn ask_in_page(b: &mut Browser, session: &str, question: &str, until: &str) -> Value {
    b.eval(session, "document.getElementById('q').select(); true");
    b.type_and_enter(session, question);
    b.wait_for(session, until);
    rendered(b, session)
}

/// The WCAG contrast ratio of each kind of text against what it is on,
/// from the computed styles.
const CONTRAST: &str = r#"(() => {
  const rgb = s => s.match(/[\d.]+/g).slice(0, 3).map(Number);
  const lum = c => {
    const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => { const [x, y] = [lum(rgb(a)), lum(rgb(b))].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const bg = getComputedStyle(document.body).backgroundColor;
  const on = sel => { const e = document.querySelector(sel); return e ? ratio(getComputedStyle(e).color, bg) : 99; };
  const button = getComputedStyle(document.querySelector('button'));
  return JSON.stringify({
    button: ratio(button.color, button.backgroundColor),
    text: on('body'), dim: on('.dim'), meta: on('.meta'), question: on('.question'), state: on('#state'),
  });
})()"#;

/// The contrast of the page's text in a colour scheme (`light`, `dark`).
fn contrast(b: &mut Browser, session: &str, scheme: &str) -> Value {
    b.call(
        Some(session),
        "Emulation.setEmulatedMedia",
        json!({"media": "", "features": [{"name": "prefers-color-scheme", "value": scheme}]}),
    );
    serde_json::from_str(b.eval(session, CONTRAST).as_str().unwrap()).unwrap()
}

#[test]
fn the_page_answers_typed_questions_in_chromium() {
    let w = Work::seeded();
    // A pair with metadata and an answer of two lines.
    w.write(
        "faq.csv",
        "question,answer,category\nHow do I reset my password?,\"Open Settings.\nChoose Reset password.\",account\n",
    );
    // An answer of paragraphs and a command block, as a wiki keeps it.
    w.write(
        "install.md",
        "## How do I install the command-line tool?\n\nDownload the archive first.\n\nThen run:\n\n```sh\ntar xf tool.tar.gz\n./install.sh --prefix ~/.local\n```\n\nThat is all.\n",
    );
    w.index_ok();
    let question = "What does the coalition aim to provide?";
    let cli = w.run(&["ask", "--json", "-k", "5", question]).json();
    let s = Served::start(&w, &[]);

    let mut b = Browser::start();
    let target = b.call(None, "Target.createTarget", json!({"url": "about:blank"}));
    let attached = b.call(
        None,
        "Target.attachToTarget",
        json!({"targetId": target["targetId"], "flatten": true}),
    );
    let session = attached["sessionId"].as_str().unwrap().to_string();
    let session = session.as_str();
    b.call(Some(session), "Network.enable", json!({}));
    b.call(Some(session), "Page.enable", json!({}));
    b.call(Some(session), "Page.navigate", json!({"url": s.url}));
    b.wait_for(session, "document.readyState === 'complete' && document.getElementById('corpus').textContent.includes('Q&A pair')");

    // The box has the focus on load: a keyboard user types at once.
    let r = rendered(&mut b, session);
    assert_eq!(r["focused"], "q", "{r}");
    let corpus = r["corpus"].as_str().unwrap();
    assert!(corpus.contains("8 Q&A pairs"), "{r}");
    // The model by its name, not its files' hashes.
    assert!(
        corpus.contains("model minilm ·") && !corpus.contains("onnx-"),
        "{r}"
    );
    b.type_and_enter(session, question);
    b.wait_for(
        session,
        "document.querySelectorAll('#results li').length > 0",
    );
    let r = rendered(&mut b, session);
    let results = r["results"].as_array().unwrap();
    let want = cli["results"].as_array().unwrap();
    assert_eq!(results.len(), want.len(), "{r}");
    for (got, want) in results.iter().zip(want) {
        match want["kind"].as_str() {
            Some("passage") => assert_eq!(got["question"], "From the document's passage"),
            _ => assert_eq!(got["question"], want["question"]),
        }
        assert_eq!(got["answer"], want["answer"], "the full answer");
        assert_eq!(
            got["marked"],
            json!([want["passage"]]),
            "the matching sentence is highlighted"
        );
        let meta = got["meta"].as_str().unwrap();
        assert!(
            meta.starts_with(&format!(
                "{}:{}",
                want["doc"].as_str().unwrap(),
                want["line"]
            )),
            "{meta}"
        );
        assert!(meta.contains("score"), "{meta}");
    }
    let state = r["state"].as_str().unwrap();
    assert!(
        state.starts_with(&format!("{} answers (", want.len())) && state.contains(" ms"),
        "every result confident, timing shown: {state}"
    );
    assert_eq!(r["divider"], false, "{r}");
    assert_eq!(r["abstain"], false);
    // Readable in both colour schemes: WCAG AA, 4.5:1, for every text.
    for scheme in ["dark", "light"] {
        let c = contrast(&mut b, session, scheme);
        for (what, ratio) in c.as_object().unwrap() {
            assert!(
                ratio.as_f64().unwrap() >= 4.5,
                "{scheme}: {what} {ratio}: {c}"
            );
        }
    }
    b.screenshot(session, "serve-page.png");

    // Keyboard: "/" back to the box, arrows onto the answers.
    b.call(Some(session), "Input.dispatchKeyEvent", json!({"type": "keyDown", "key": "ArrowDown", "code": "ArrowDown", "windowsVirtualKeyCode": 40}));
    b.call(Some(session), "Input.dispatchKeyEvent", json!({"type": "keyUp", "key": "ArrowDown", "code": "ArrowDown", "windowsVirtualKeyCode": 40}));
    assert_eq!(b.eval(session, "document.activeElement.tagName"), "LI");
    b.call(Some(session), "Input.dispatchKeyEvent", json!({"type": "keyDown", "key": "/", "code": "Slash", "text": "/", "windowsVirtualKeyCode": 191}));
    b.call(
        Some(session),
        "Input.dispatchKeyEvent",
        json!({"type": "keyUp", "key": "/", "code": "Slash", "windowsVirtualKeyCode": 191}),
    );
    assert_eq!(b.eval(session, "document.activeElement.id"), "q");

    // Metadata under the question; the answer's own line breaks shown.
    let r = ask_in_page(
        &mut b,
        session,
        "I forgot my password, how do I change it?",
        "document.querySelector('#results li .fields') !== null",
    );
    let top = &r["results"][0];
    assert_eq!(top["fields"], "category: account", "{r}");
    // "N answers" counts the confident ones; the rest are set apart.
    let cli = w
        .run(&[
            "ask",
            "--json",
            "-k",
            "5",
            "I forgot my password, how do I change it?",
        ])
        .json();
    let want = cli["results"].as_array().unwrap();
    let confident = want.iter().filter(|a| a["confident"] == true).count();
    assert!(
        confident >= 1 && confident < want.len(),
        "the test needs both kinds: {cli}"
    );
    let state = r["state"].as_str().unwrap();
    assert!(
        state.starts_with(&format!("{confident} answer")),
        "{state} ({confident} of {} confident)",
        want.len()
    );
    assert_eq!(r["divider"], true, "{r}");
    for (got, want) in r["results"].as_array().unwrap().iter().zip(want) {
        assert_eq!(got["guess"], want["confident"] == false, "{got} {want}");
    }
    assert!(
        top["shown"]
            .as_str()
            .unwrap()
            .contains("Open Settings.\nChoose Reset password."),
        "{r}"
    );

    // Paragraphs and command lines as they were written.
    let r = ask_in_page(&mut b, session, "How do I install the tool?", "(document.querySelector('#results li .question') || {}).textContent === 'How do I install the command-line tool?'");
    let top = &r["results"][0];
    assert_eq!(
        top["question"], "How do I install the command-line tool?",
        "{r}"
    );
    assert_eq!(
        top["code"],
        json!(["tar xf tool.tar.gz\n./install.sh --prefix ~/.local"]),
        "{r}"
    );
    assert_eq!(top["paragraphs"], 3, "{r}");
    b.screenshot(session, "serve-page-code.png");

    // Back returns to the previous question and its answers.
    b.eval(session, "history.back(); true");
    b.wait_for(
        session,
        "document.getElementById('q').value.startsWith('I forgot my password') && \
         document.querySelector('#results li .question').textContent === 'How do I reset my password?'",
    );
    let r = rendered(&mut b, session);
    assert_eq!(r["results"][0]["fields"], "category: account", "{r}");
    assert!(
        b.eval(session, "location.search")
            .as_str()
            .unwrap()
            .contains("forgot"),
        "the address names the question"
    );

    // A question about nothing in the corpus: the page says so.
    let r = ask_in_page(
        &mut b,
        session,
        "How many moons does Neptune have?",
        "document.getElementById('state').textContent.startsWith('No confident answer')",
    );
    assert_eq!(r["abstain"], true, "{r}");

    // A phone's width: nothing wider than the screen.
    b.call(
        Some(session),
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true}),
    );
    let r = ask_in_page(
        &mut b,
        session,
        question,
        "document.querySelectorAll('#results li:not(.guess)').length > 0",
    );
    assert!(
        r["width"].as_u64().unwrap() <= 390,
        "no sideways scrolling on a phone: {r}"
    );
    b.screenshot(session, "serve-page-phone.png");

    // Every request the page made went to the server.
    let urls: Vec<String> = b
        .events
        .iter()
        .filter(|e| e["method"] == "Network.requestWillBeSent")
        .map(|e| {
            e["params"]["request"]["url"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert!(urls.iter().any(|u| u.ends_with("/api/ask")), "{urls:?}");
    let outside: Vec<&String> = urls.iter().filter(|u| !u.starts_with(&s.url)).collect();
    assert!(
        outside.is_empty(),
        "requests outside the server: {outside:?}"
    );
}

/// `eval --report`: the page renders in Chromium without an error, draws
/// every chart, and asks for nothing outside itself.
#[test]
fn the_eval_report_renders_in_chromium() {
    let w = Work::seeded();
    w.write(
        "../unrelated.txt",
        "How do I bake sourdough bread?\nWhat is the boiling point of water?\n",
    );
    let report = util::repo().join("target/eval-report.html");
    let tsv = util::repo().join("eval/questions.tsv");
    let r = w.run(&[
        "eval",
        "--questions",
        tsv.to_str().unwrap(),
        "--unrelated",
        "unrelated.txt",
        "--report",
        report.to_str().unwrap(),
    ]);
    r.ok();
    assert!(r.stderr.contains("report written to"), "{}", r.stderr);
    let page = std::fs::read_to_string(&report).unwrap();
    assert!(!page.contains("http"), "no address in the page");

    let mut b = Browser::start();
    let session = b.open(&format!("file://{}", report.display()));
    let session = session.as_str();
    let drawn: Value = serde_json::from_str(
        b.eval(
            session,
            r#"JSON.stringify({
              svgs: Array.from(document.querySelectorAll('svg')).filter(s => s.getBoundingClientRect().width > 100).length,
              bars: Array.from(document.querySelectorAll('figure rect')).filter(r => r.getBBox().width > 0).length,
              curves: document.querySelectorAll('polyline').length,
              threshold: Array.from(document.querySelectorAll('svg text')).some(t => t.textContent.startsWith('threshold')),
              worst: document.querySelectorAll('table')[1].querySelectorAll('tr').length - 1,
              settings: Array.from(document.querySelectorAll('table.settings th')).map(t => t.textContent),
            })"#,
        )
        .as_str()
        .unwrap(),
    )
    .unwrap();
    // Five metric charts, the curves, the histograms.
    assert_eq!(drawn["svgs"], 7, "{drawn}");
    // A bar per system (engine, its five views and the two baselines, less
    // `answers`, which is `dense`) in each of the five charts.
    assert_eq!(drawn["bars"], 5 * 7, "{drawn}");
    assert_eq!(drawn["curves"], 7, "{drawn}");
    assert_eq!(drawn["threshold"], true, "{drawn}");
    assert!(drawn["worst"].as_u64().unwrap() >= 1, "{drawn}");
    for setting in ["model", "index generation", "threshold"] {
        assert!(
            drawn["settings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s.as_str().unwrap().starts_with(setting)),
            "{drawn}"
        );
    }
    assert!(b.errors().is_empty(), "console errors: {:?}", b.errors());
    let requests: Vec<&Value> = b
        .events
        .iter()
        .filter(|e| e["method"] == "Network.requestWillBeSent")
        .filter(|e| {
            !e["params"]["request"]["url"]
                .as_str()
                .unwrap_or("")
                .starts_with("file://")
        })
        .collect();
    assert!(
        requests.is_empty(),
        "requests outside the page: {requests:?}"
    );
    b.screenshot_page(session, "eval-report.png");
}
