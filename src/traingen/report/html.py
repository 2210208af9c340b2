"""A static HTML page that opens from disk with no network: images inline as data URIs."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.atomic import atomic_write_text

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3} img{max-width:100%;image-rendering:pixelated;border:1px solid #ddd}
pre{background:#f6f6f6;padding:.8em;overflow:auto;font-size:.85em}
.caption{color:#666;font-size:.9em}
"""


def png_data_uri(image: np.ndarray) -> str:
    import cv2

    from .grid import _to_rgb_uint8

    ok, buf = cv2.imencode(".png", cv2.cvtColor(_to_rgb_uint8(image), cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - cv2 encodes any uint8 RGB image
        raise RuntimeError("PNG encoding failed")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode()


class Page:
    """Build a page section by section, then :meth:`write` it atomically."""

    def __init__(self, title: str):
        self.title = title
        self._parts: list[str] = []

    def heading(self, text: str) -> Page:
        self._parts.append(f"<h2>{html.escape(text)}</h2>")
        return self

    def text(self, text: str) -> Page:
        self._parts.append(f"<p>{html.escape(text)}</p>")
        return self

    def image(self, image: np.ndarray, caption: str = "", alt: str = "") -> Page:
        self._parts.append(
            f'<figure><img src="{png_data_uri(image)}" alt="{html.escape(alt or caption)}">'
            f'<figcaption class="caption">{html.escape(caption)}</figcaption></figure>'
        )
        return self

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]], *, id: str | None = None) -> Page:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
        ident = f' id="{html.escape(id)}"' if id else ""
        self._parts.append(f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        return self

    def png(self, data: bytes, caption: str = "", alt: str = "") -> Page:
        """An already encoded PNG, inlined as a data URI (the page stays one self-contained file)."""
        uri = "data:image/png;base64," + base64.b64encode(data).decode()
        self._parts.append(
            f'<figure><img src="{uri}" alt="{html.escape(alt or caption)}">'
            f'<figcaption class="caption">{html.escape(caption)}</figcaption></figure>'
        )
        return self

    def code(self, text: str) -> Page:
        self._parts.append(f"<pre>{html.escape(text)}</pre>")
        return self

    def render(self) -> str:
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head>"
            f"<body><h1>{html.escape(self.title)}</h1>\n" + "\n".join(self._parts) + "\n</body></html>\n"
        )

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        atomic_write_text(path, self.render())
        return path
