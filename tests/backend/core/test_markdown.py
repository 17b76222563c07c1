"""Notes rendered as text formatting only (backend.core.markdown): raw HTML and scripts come out as
text, only http(s) and mailto addresses become links, images never load, headings sit below the page's."""

from __future__ import annotations

import pytest

from backend.core.markdown import ALIGNS, render_note, safe_link


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="https://ok.org" onclick="x()">hi</a>',
    "<iframe src=//evil.example></iframe>",
    "<div>\n<script>alert(1)</script>\n</div>",
    "<!-- a comment -->",
])
def test_raw_html_comes_out_escaped(text: str) -> None:
    html = render_note(text)
    assert "<script" not in html and "<img" not in html and "<iframe" not in html and "<a " not in html
    assert "<div" not in html and "<!--" not in html
    assert "&lt;" in html


@pytest.mark.parametrize("text", [
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD4=)",
    "[click](vbscript:msgbox)",
    "<javascript:alert(1)>",
    "[click](/runs/1)",
    "[ref][r]\n\n[r]: javascript:alert(1)",
    "[click](java&#x0A;script:alert(1))",
])
def test_links_other_than_http_https_mailto_are_not_links(text: str) -> None:
    html = render_note(text)
    assert "<a" not in html and "href" not in html


def test_http_https_and_mailto_are_links_that_do_not_follow() -> None:
    html = render_note("[a](https://example.org/x?y=1) [b](http://example.org) [c](mailto:ada@example.org) "
                       "<https://auto.example/>")
    assert html.count("<a href=") == 4
    assert 'href="https://example.org/x?y=1"' in html and 'href="mailto:ada@example.org"' in html
    assert html.count('rel="nofollow noopener noreferrer"') == 4


@pytest.mark.parametrize("text", ["![a cat](https://evil.example/track.png)", "![](https://evil.example/t.png)",
                                  "![x](javascript:alert(1))", '![a](https://e.example/p.png "t")',
                                  "![ref][i]\n\n[i]: https://e.example/p.png"])
def test_images_are_never_img_elements(text: str) -> None:
    html = render_note(text)
    assert "<img" not in html and "src=" not in html


def test_an_image_becomes_a_link_named_by_its_alt_text() -> None:
    assert render_note("![a cat](https://e.example/cat.png)") == (
        '<p><a href="https://e.example/cat.png" rel="nofollow noopener noreferrer">a cat</a></p>\n')
    assert render_note('![<b>"x"</b>](https://e.example/p.png)') == (
        '<p><a href="https://e.example/p.png" rel="nofollow noopener noreferrer">'
        '&lt;b&gt;&quot;x&quot;&lt;/b&gt;</a></p>\n')


def test_text_formatting_works() -> None:
    html = render_note("**bold** *em* ~~gone~~ `code`\n\n- one\n- two\n\n1. first\n\n> quoted\n\n"
                       "```py\nx = '<b>'\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    for part in ("<strong>bold</strong>", "<em>em</em>", "<s>gone</s>", "<code>code</code>", "<ul>\n<li>one</li>",
                 "<ol>\n<li>first</li>", "<blockquote>", '<code class="language-py">x = \'&lt;b&gt;\'', "<table>",
                 "<td>1</td>"):
        assert part in html, part


def test_table_alignment_is_a_class_and_a_note_carries_no_style_attribute() -> None:
    html = render_note("| l | c | r | n |\n|:--|:-:|--:|---|\n| 1 | 2 | 3 | 4 |")
    for cell in ("th", "td"):
        for align in ALIGNS:
            assert f'<{cell} class="align-{align}">' in html, html
    assert "<td>4</td>" in html and "style" not in html


def test_headings_are_demoted_below_the_pages_own() -> None:
    assert render_note("# One\n## Two\n##### Five\n###### Six") == (
        "<h3>One</h3>\n<h4>Two</h4>\n<h6>Five</h6>\n<h6>Six</h6>\n")


def test_no_note_renders_as_nothing() -> None:
    assert render_note(None) == "" and render_note("") == ""


def test_safe_link() -> None:
    assert safe_link("https://a.example") and safe_link("mailto:a@b.example") and safe_link("HTTP://A.EXAMPLE")
    assert not safe_link("https://a.example/\x00") and not safe_link("http:///nohost") and not safe_link("mailto:")
    assert not safe_link("//a.example") and not safe_link("ftp://a.example")
