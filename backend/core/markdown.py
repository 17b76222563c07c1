"""Notes (Markdown) rendered as text formatting only — the one place a note becomes HTML.

markdown-it-py (CommonMark, plus tables and strikethrough) with raw HTML off: ``<script>`` and any
tag come out as text. No images (a remote image would load from the reader's browser): an image
becomes a plain link named by its alt text. Links only to http, https and mailto addresses; any
other (``javascript:``, ``data:``, relative paths) stays as the text that was written. Headings are
demoted two levels, so a note's ``#`` never outranks the page's own headings. A table column's
alignment is a class (``align-left``, ``align-center``, ``align-right``, styled in app.css), never a
``style`` attribute: a note carries none. Pages insert only this output.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

LINK_SCHEMES = ("http", "https", "mailto")
HEADING_SHIFT = 2  # a note's h1 is rendered as h3 (pages use h1 and h2)
LINK_REL = "nofollow noopener noreferrer"
ALIGNS = ("left", "center", "right")  # a table cell's class align-<it> (frontend/static/css/app.css)


def safe_link(url: str) -> bool:
    """Only absolute http(s) and mailto addresses are links (control characters never)."""
    url = url.strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme.lower() not in LINK_SCHEMES:
        return False
    return bool(parts.path) if parts.scheme.lower() == "mailto" else bool(parts.netloc)


def _image(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    """An image as a plain link named by its alt text (nothing loads by itself); its alt text alone
    when its address is not a safe link."""
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env)
    src = str(token.attrGet("src") or "")
    label = alt or src
    if not safe_link(src):
        return _escape(label)
    return f'<a href="{_escape(src)}" rel="{LINK_REL}">{_escape(label)}</a>'


def _link_open(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    tokens[idx].attrSet("rel", LINK_REL)
    return self.renderToken(tokens, idx, options, env)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.disable(["html_block", "html_inline"])  # raw HTML is text, even if the html option were turned on
    md.validateLink = safe_link  # type: ignore[method-assign]  # links and autolinks that fail stay as text
    md.add_render_rule("image", _image)
    md.add_render_rule("link_open", _link_open)
    return md


_MD = _parser()


def render_note(text: str | None) -> str:
    """A note's safe HTML ("" for none)."""
    if not text:
        return ""
    tokens = _MD.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1:]) + HEADING_SHIFT)}"
        elif token.type in ("th_open", "td_open") and "style" in token.attrs:  # markdown-it's text-align:…
            align = str(token.attrs.pop("style")).removeprefix("text-align:")
            if align in ALIGNS:
                token.attrSet("class", f"align-{align}")
    return str(_MD.renderer.render(tokens, _MD.options, {}))
