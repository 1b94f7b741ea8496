"""A briefing's HTML: an executed notebook converted offline with the code hidden,
through the template ``nq21model_offline`` (JupyterLab's page without require.js,
MathJax, mermaid or widget scripts from a CDN; images embedded with their
Vietnamese text alternative).

What a batch's worker imports to convert its units: nbconvert and nbformat, not
pandas or the model (:mod:`nq21model.runner`).
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "nq21model_offline"
#: Tag of notebook cells left out of the HTML (the notebook's own title cell).
REMOVE_TAG = "remove_cell"


#: The opening tags HTMLExporter makes focusable (``tabindex="0"``): cells' input
#: wrappers and outputs; and images without a text alternative.
_FOCUSABLE = re.compile(r'<div\b[^>]*?\sclass="(?:[^"]*\s)?(?:jp-Cell-inputWrapper|jp-OutputArea-output)'
                        r'(?:\s[^"]*)?"[^>]*')
_IMG_NO_ALT = re.compile(r"<img\b(?![^>]*\salt(?:\s*=|[\s/>]))")
_CHAR_REF = re.compile(r"&#(?:x([0-9a-fA-F]+)|([0-9]+));")
#: Where a character reference is text as written, not a character: scripts and styles.
_RAW_TEXT = re.compile(r"(<script\b.*?</script>|<style\b.*?</style>)", re.S | re.I)


def _letter(match: re.Match) -> str:
    # from U+00A0: the references below it are Windows-1252 letters to an HTML parser
    code = int(match.group(1), 16) if match.group(1) else int(match.group(2))
    return chr(code) if 0xA0 <= code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else match.group(0)


def _accessible(page: str) -> str:
    """What nbconvert's HTMLExporter adds in a second pass over the page (parsed with
    BeautifulSoup: a fifth of a briefing's conversion), added by pattern: the tabindex
    of inputs and outputs, an ``alt`` on an image without one (the briefings' images
    all carry theirs), and Vietnamese letters as letters, not character references
    (the markdown headings'). ``tests/test_briefings.py`` compares both ways on a briefing."""
    page = "".join(part if i % 2 else _CHAR_REF.sub(_letter, part) for i, part in enumerate(_RAW_TEXT.split(page)))
    page = _FOCUSABLE.sub(lambda m: m.group(0) if "tabindex=" in m.group(0) else m.group(0) + ' tabindex="0"', page)
    return _IMG_NO_ALT.sub('<img alt="No description has been provided for this image"', page)


def _exporter_class():
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class BriefingHTMLExporter(HTMLExporter):
        """nbconvert's HTMLExporter (7.x) with its closing pass done by :func:`_accessible`."""

        def from_notebook_node(self, nb, resources=None, **kw):
            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            self.register_filter("highlight_code", self.filters.get(
                "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)))
            resources = self._init_resources(resources)
            self.register_filter("filter_data_type", WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources))
            page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return _accessible(page), resources

    return BriefingHTMLExporter


@functools.lru_cache(maxsize=1)
def html_exporter():
    """The briefings' HTML exporter (template compiled once per process)."""
    from traitlets.config import Config

    c = Config()
    c.HTMLExporter.optimistic_validation = True  # the notebook validated once, not after each preprocessor
    c.HTMLExporter.exclude_input = True
    c.HTMLExporter.exclude_input_prompt = True
    c.HTMLExporter.exclude_output_prompt = True
    c.HTMLExporter.language_code = "vi"
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_cell_tags = {REMOVE_TAG}
    exporter = _exporter_class()(config=c, template_name=TEMPLATE_NAME, extra_template_basedirs=[str(TEMPLATES_DIR)])
    exporter.template  # noqa: B018 (compiled now)
    return exporter


def export_html(notebook_path: str | Path, html_path: str | Path, *, title: str) -> Path:
    """Convert an executed notebook to offline HTML: code hidden, images embedded,
    no script or style from the network; the ``remove_cell`` cells and the kernel's
    warnings (stderr, kept in the notebook) left out."""
    import nbformat

    exporter = html_exporter()
    nb = nbformat.read(str(notebook_path), as_version=4)
    # warnings a kernel printed are for the log (the .ipynb keeps them), not for the reader
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", [])
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    # code cells that show nothing (parameters, imports, the model run) would leave gaps
    nb.cells = [c for c in nb.cells if c.cell_type != "code" or c.get("outputs")]
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    Path(html_path).write_text(body, encoding="utf-8")
    return Path(html_path)
