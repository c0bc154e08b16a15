"""Which browser this session is: a random secret kept in a cookie, and the owner id made
from it that the executor knows runs by.

A run's address (`?run=...`) can be pasted anywhere, so it must not carry control of the
run: the secret does, and a copied address never holds it. Streamlit reads cookies but
cannot set one, so a small script writes it into the page (`st.html` runs scripts in the
document itself, so `document.cookie` is this app's cookie). A first visit, before the
cookie exists, uses the session's own fresh secret and writes it; every later session of
the browser (reloads, tabs) reads it back and so is the same owner.
"""
from __future__ import annotations

import hashlib
import re
import secrets

import streamlit as st

COOKIE_NAME = "playground_owner"
COOKIE_MAX_AGE = 400 * 24 * 3600    # the most browsers keep a cookie (about 13 months)
SECRET_KEY = "owner_secret"         # session state: this browser's secret
OWNER_KEY = "run_owner"             # session state: the owner id made from it
# What a secret written by `new_secret` looks like; anything else in the cookie is replaced.
SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{32,128}")


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def owner_id(secret: str) -> str:
    """What the executor stores: a hash, so its records never hold a browser's secret."""
    return hashlib.sha256(f"cnn-playground owner:{secret}".encode()).hexdigest()[:32]


def short_owner(owner: str) -> str:
    """A few characters that tell owners apart on the administrator's page."""
    return hashlib.sha256(owner.encode()).hexdigest()[:8]


def browser_secret() -> str:
    """This browser's secret: kept in the session, else read from its cookie, else new
    (written to the cookie by `remember_in_browser`)."""
    secret = st.session_state.get(SECRET_KEY)
    if secret is None:
        cookie = _cookie()
        secret = cookie if cookie and SECRET_PATTERN.fullmatch(cookie) else new_secret()
        st.session_state[SECRET_KEY] = secret
    return secret


def session_owner() -> str:
    """The owner id of this browser (a test may seed it in the session state)."""
    owner = st.session_state.get(OWNER_KEY)
    if owner is None:
        owner = owner_id(browser_secret())
        st.session_state[OWNER_KEY] = owner
    return owner


def remember_in_browser() -> None:
    """Write the secret into the browser's cookie unless the browser sent it already.
    app.py calls this on every run, after the page, where an empty element is no gap."""
    if OWNER_KEY in st.session_state and SECRET_KEY not in st.session_state:
        return  # an owner given to the session (tests): no browser secret to keep
    secret = browser_secret()
    if _cookie() == secret:
        return
    # The secret is token_urlsafe: safe inside a JS string literal and a cookie value.
    st.html(f"""<script>
(function () {{
  var secure = window.location.protocol === "https:" ? "; Secure" : "";
  document.cookie = "{COOKIE_NAME}={secret}; Max-Age={COOKIE_MAX_AGE}; Path=/; "
                    + "SameSite=Lax" + secure;
}})();
</script>""", unsafe_allow_javascript=True)


def _cookie() -> str | None:
    try:
        value = st.context.cookies.get(COOKIE_NAME)
    except Exception:  # no browser behind the session (scripts, some tests)
        return None
    return value if isinstance(value, str) else None  # a test's stand-in client: none
