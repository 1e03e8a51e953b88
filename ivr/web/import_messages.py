"""The importer's refusals in the user's language: whole-file errors (`ImportFileError.key`) and
row errors (`RowError.code` / `params`), as `import.<key>` and `import.row.<code>` in i18n/*.json.

Why it looks like this: the importer is shared by the CLI (English), the API (English + a stable
code) and the web app; it names each refusal with a key and parameters and the web app words it.
Rows stored by an older version carry only their English `reason`, which is shown as it is.
"""
from __future__ import annotations

from pathlib import Path

from ..dialer import importer
from .i18n import translate as t


def file_error(exc: importer.ImportFileError, path: Path, shown_name: str) -> str:
    """A whole-file refusal, the stored path replaced by the name the user uploaded."""
    if exc.key:
        return t(f"import.{exc.key}", file=shown_name, **exc.params)
    return str(exc).replace(str(path), shown_name)


def _field(name) -> str:
    key = f"import.field.{name}"
    text = t(key)
    return str(name) if text == key else text


def row_error(error) -> str:
    """A RowError (or its stored dict) in the user's language."""
    get = error.get if isinstance(error, dict) else lambda k, d=None: getattr(error, k, d)
    code, values, reason = get("code"), dict(get("params") or {}), get("reason") or ""
    if not code or code == "invalid":
        return reason
    if "field" in values:
        values["field"] = _field(values["field"])
    key = f"import.row.{code}"
    text = t(key, **values)
    return reason if text == key else text


def init_app(app) -> None:
    app.jinja_env.globals.update(import_row_error=row_error)
