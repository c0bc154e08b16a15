"""User text shown as the text it is: network names and descriptions, file names, class
names, and messages that quote them.

Streamlit renders st.markdown, st.caption, st.success/info/warning/error, widget labels
and help tooltips as GitHub-flavoured Markdown (raw HTML it escapes already). A shared
lesson named `![x](http://host/pixel.png) [Log in](http://host/login)` would otherwise
make every browser that opens it fetch the image and show a link inside the app's own
message. `plain` escapes what can make a link, an image, an autolink, maths, a code span,
a directive or a block out of user text; other punctuation (emphasis marks included:
they only restyle) stays as typed, so names read unchanged.
Plotly titles, legends and hover labels understand a few HTML tags, `<a href>` among
them; `for_chart` escapes those.
"""
from __future__ import annotations

import html
import re

# Links and images ([ ]), autolinks and HTML (< >), maths ($), code spans (`) and the
# escape character itself: escaped wherever they are.
_ALWAYS = re.compile(r"[\\`\[\]<>$]")
# A directive such as `:red[...]` or `:word`, which would swallow the text after it.
_DIRECTIVE = re.compile(r":(?=[A-Za-z])")
# GitHub's bare-address links ("https://", "www.", e-mail addresses) are found in the text
# after escapes are read, so a backslash cannot stop them: an invisible word joiner
# inside each one does.
_BARE_LINK = re.compile(r"(?<=:)(?=//)|(?<=www)(?=\.)|(?<=@)", re.IGNORECASE)
WORD_JOINER = "\u2060"
# A heading, quote, list item, rule or table row where the text starts a line.
_BLOCK_START = re.compile(r"^([#>+*=|_~-]|\d+[.)])")


def plain(text: object) -> str:
    """Markdown that shows `text` as typed, on one line, with nothing clickable in it."""
    line = " ".join(str(text).splitlines()).lstrip()
    line = _ALWAYS.sub(lambda found: "\\" + found.group(), line)
    line = _DIRECTIVE.sub(r"\:", line)
    line = _BARE_LINK.sub(WORD_JOINER, line)
    return _BLOCK_START.sub(lambda found: found.group()[:-1] + "\\" + found.group()[-1], line)


def for_chart(text: object) -> str:
    """Plotly text that shows `text` exactly: no tag (link, styling) of its own."""
    return html.escape(str(text), quote=False)
