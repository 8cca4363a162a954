//! A real Chromium driven over W3C WebDriver (Debian's `chromium` and
//! `chromium-driver`): just the commands the dashboard tests use.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// Whether chromedriver is here; with SLIPWAY_REQUIRE_DOCKER=1 its absence fails.
pub fn available(test: &str) -> bool {
    let found = Command::new("chromedriver")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("SLIPWAY_REQUIRE_DOCKER").as_deref() != Ok("1"),
            "{test}: chromedriver is missing (apt-get install chromium chromium-driver)"
        );
        eprintln!("skipping {test}: no chromedriver");
    }
    found
}

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::blocking::Client,
}

pub struct Element(String);

impl Browser {
    /// A headless Chromium at desktop size.
    pub fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]
            }}}}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_string();
        Browser {
            driver,
            base,
            session,
            http,
        }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body)
            .unwrap_or_else(|error| panic!("WebDriver {path}: {error}"))
    }

    fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().unwrap().json().unwrap();
        match answer["value"]["error"].as_str() {
            Some(error) => Err(format!("{error}: {}", answer["value"]["message"])),
            None => Ok(answer["value"].clone()),
        }
    }

    /// The text of the first element matching `css` now, if there is one
    /// (a page being replaced answers nothing rather than failing).
    fn text_now(&self, css: &str) -> Option<String> {
        let found = self
            .try_call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .ok()?;
        let id = found.as_object()?.values().next()?.as_str()?.to_string();
        let text = self
            .try_call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .ok()?;
        text.as_str().map(str::to_string)
    }

    pub fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn find(&self, css: &str) -> Element {
        let found = self.call(
            reqwest::Method::POST,
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        // An object with one key (the W3C element identifier) whose value is the id.
        let id = found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element id in {found}"));
        Element(id.to_string())
    }

    pub fn count(&self, css: &str) -> usize {
        self.call(
            reqwest::Method::POST,
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .as_array()
        .map_or(0, Vec::len)
    }

    pub fn click(&self, element: &Element) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/click", element.0),
            Some(json!({})),
        );
    }

    pub fn type_into(&self, element: &Element, text: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/clear", element.0),
            Some(json!({})),
        );
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/value", element.0),
            Some(json!({ "text": text })),
        );
    }

    pub fn text(&self, element: &Element) -> String {
        self.call(
            reqwest::Method::GET,
            &format!("/element/{}/text", element.0),
            None,
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Waits until the text of `css` satisfies `check` (across page loads:
    /// a click that submits a form replaces the page under the caller).
    pub fn wait_for_text(
        &self,
        css: &str,
        timeout: Duration,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.text_now(css);
            if let Some(text) = &text {
                if check(text) {
                    return text.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "timed out on {css}: {text:?} (at {})",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The text of `css` once the page has it.
    pub fn text_of(&self, css: &str) -> String {
        self.wait_for_text(css, Duration::from_secs(20), |_| true)
    }

    /// Waits until the page's URL satisfies `check`; the URL.
    pub fn wait_for_url(&self, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let url = self.url();
            if check(&url) {
                return url;
            }
            assert!(Instant::now() < deadline, "timed out at {url}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn resize(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    /// With SLIPWAY_SCREENSHOTS=DIR: the page at desktop and phone width,
    /// as DIR/NAME-desktop.png and DIR/NAME-phone.png.
    pub fn screenshots(&self, name: &str) {
        let Ok(dir) = std::env::var("SLIPWAY_SCREENSHOTS") else {
            return;
        };
        std::fs::create_dir_all(&dir).unwrap();
        for (kind, width, height) in [("desktop", 1280, 900), ("phone", 390, 844)] {
            self.resize(width, height);
            std::thread::sleep(Duration::from_millis(300));
            let png = self.call(reqwest::Method::GET, "/screenshot", None);
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(png.as_str().unwrap())
                .unwrap();
            std::fs::write(format!("{dir}/{name}-{kind}.png"), bytes).unwrap();
        }
        self.resize(1280, 900);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
