"""The built documentation site in a real browser: headless Chromium (Debian's chromium and
chromium-driver) driven by Selenium, every page served from ``site/`` on localhost.

Each page must load with no console error and no failed request, request nothing outside the site,
show every image (non-zero natural size), render its math (no raw ``$...$`` or ``\\(...\\)`` left in
the prose) and link only to files that exist. The test also saves screenshots of the SNGP tutorial
and of an annotated source page into ``site-screenshots/``, to be looked at before a release.

``make docs-test`` builds the site, installs Chromium and runs this with NUMPYUQ_REQUIRE_SITE=1,
where a missing site or browser is a failure. Under a plain ``make test`` these tests are skipped
with the reason when the site has not been built.
"""
import functools
import http.server
import json
import os
import pathlib
import re
import shutil
import threading
from urllib.parse import unquote, urljoin, urlsplit

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
SITE = ROOT / "site"
SCREENSHOTS = ROOT / "site-screenshots"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver")
SCREENSHOT_PAGES = {"_generated/tutorials/03_sngp_two_moons.html": "sngp_tutorial.png",
                    "source/nn/dense.html": "annotated_dense.png"}


def _missing():
    if not (SITE / "index.html").exists():
        return "site/ is not built (make docs)"
    if not (CHROMEDRIVER and os.path.exists(CHROMIUM)):
        return "Chromium and chromedriver are not installed (make docs-test installs them)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (make docs-test installs it)"
    return None


MISSING = _missing()
if MISSING:
    if os.environ.get("NUMPYUQ_REQUIRE_SITE") == "1":
        pytest.fail(MISSING, pytrace=False)
    pytest.skip(MISSING, allow_module_level=True)

PAGES = sorted(str(p.relative_to(SITE)) for p in SITE.rglob("*.html") if not p.relative_to(SITE).parts[0] == "_static")


@pytest.fixture(scope="module")
def base_url():
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # The flags that keep Chromium from calling home on a closed network (each refused call would
    # otherwise show up as a failed request).
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--window-size=1280,1400",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    driver.get("about:blank")                       # let the start-up pages settle before the first test
    driver.get_log("performance")
    yield driver
    driver.quit()


WAIT_FOR_MATH = """
const done = arguments[0];
if (!document.querySelector('script[src*="katex/render.js"]')) { done('none'); return; }
const start = Date.now();
(function poll() {
    if (document.body.dataset.math === 'rendered') { done('typeset'); return; }
    if (Date.now() - start > 30000) { done('KaTeX never finished'); return; }
    setTimeout(poll, 50);
})();
"""

PROSE_TEXT = """
const copy = document.body.cloneNode(true);
copy.querySelectorAll('pre, code, script, style, .highlight, textarea, .katex')
    .forEach(e => e.remove());
return copy.textContent;
"""


def _visit(driver, url):
    driver.get_log("performance")                    # drop what earlier pages left
    driver.get_log("browser")
    driver.get(url)
    math = driver.execute_async_script(WAIT_FOR_MATH)
    return math, driver.get_log("browser"), [json.loads(e["message"])["message"] for e in driver.get_log("performance")]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_loads_cleanly_and_completely(browser, base_url, page):
    url = urljoin(base_url, page)
    math, console, network = _visit(browser, url)
    assert math in ("none", "typeset"), f"{page}: {math}"

    errors = [e["message"] for e in console if e["level"] == "SEVERE"]
    assert not errors, f"{page}: console errors {errors}"

    requested = [m["params"]["request"]["url"] for m in network if m["method"] == "Network.requestWillBeSent"]
    # data: and blob: URLs are the page's own; chrome: ones are the browser's internal pages.
    internal = ("data:", "blob:", "about:", "chrome:", "chrome-untrusted:", "devtools:")
    outside = [u for u in requested if not u.startswith(base_url) and not u.startswith(internal)]
    assert not outside, f"{page}: requests outside the site {outside}"
    urls = {m["params"]["requestId"]: m["params"]["request"]["url"] for m in network
            if m["method"] == "Network.requestWillBeSent"}
    failed = [f'{m["params"].get("errorText")} {urls.get(m["params"]["requestId"], "?")}' for m in network
              if m["method"] == "Network.loadingFailed"
              and not urls.get(m["params"]["requestId"], "").startswith(internal)]
    failed += [f'{m["params"]["response"]["status"]} {m["params"]["response"]["url"]}' for m in network
               if m["method"] == "Network.responseReceived" and m["params"]["response"]["status"] >= 400]
    assert not failed, f"{page}: failed requests {failed}"

    images = browser.execute_script("return Array.from(document.images, i => [i.src, i.complete, i.naturalWidth]);")
    broken = [src for src, complete, width in images if not complete or width == 0]
    assert not broken, f"{page}: images that did not load {broken}"

    prose = browser.execute_script(PROSE_TEXT)
    raw = re.findall(r"\$[^$\s][^$]*?\$|\\\(|\\\[", prose)
    assert not raw, f"{page}: math left unrendered {raw[:5]}"
    if browser.execute_script("return document.querySelectorAll('.math').length"):
        assert browser.execute_script("return document.querySelectorAll('.katex').length"), \
            f"{page}: has math but KaTeX rendered none of it"
    errors = browser.execute_script("return Array.from(document.querySelectorAll('.katex-error'), e => e.title);")
    assert not errors, f"{page}: formulas KaTeX could not parse {errors}"

    links = browser.execute_script("return Array.from(document.querySelectorAll('a[href]'), a => a.href);")
    dead = []
    for link in links:
        if not link.startswith(base_url):
            continue                                  # links to papers and projects are not requests
        path = unquote(urlsplit(link).path).lstrip("/")
        target = SITE / path
        if path == "" or path.endswith("/"):
            target = target / "index.html"
        if not target.exists():
            dead.append(link)
    assert not dead, f"{page}: links to missing files {sorted(set(dead))}"

    if page in SCREENSHOT_PAGES:
        SCREENSHOTS.mkdir(exist_ok=True)
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1280, min(height, 6000))
        browser.save_screenshot(str(SCREENSHOTS / SCREENSHOT_PAGES[page]))
        browser.set_window_size(1280, 1400)


def test_the_site_has_every_part():
    for page in ("index.html", "api.html", "_generated/annotated.html", "_generated/results.html",
                 *[f"_generated/tutorials/{name}.html" for name in ("01_backprop_by_hand", "02_convolution_by_hand", "03_sngp_two_moons",
                                                                    "04_evidential_mnist",
                                                                    "05_choosing_an_uncertainty_method",
                                                                    "06_from_uncertainty_to_decisions",
                                                                    "07_from_sngp_to_ddu_and_laplace")],
                 *[f"source/{p}" for p in ("nn/dense.html", "nn/conv.html", "nn/spectral_norm.html",
                                           "nn/gaussian_process.html", "losses/evidential.html",
                                           "optim/adam.html", "gradcheck.html")]):
        assert (SITE / page).exists(), page
    results = (SITE / "_generated/results.html").read_text()
    assert "SNGP taken apart" in results and "ablation_moons.png" in results
    sngp = (SITE / "_generated/tutorials/03_sngp_two_moons.html").read_text()
    assert "<img" in sngp and "download as a notebook" in sngp
