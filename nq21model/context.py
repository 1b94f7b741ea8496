"""The briefing context: a batch's province-wide parts (:class:`nq21model.extras.BriefingExtras`)
in a folder that every unit's notebook reads.

The folder holds JSON only, never a pickle (which runs code when read)::

    manifest.json      format, the key the extras were made for, SHA-256 of each file
    extras.json        the fields (arrays, dicts, the objects of a whitelist)
    table-NNN.json     one DataFrame each (dtypes, index and column labels kept)

:func:`load_extras` reads the manifest, compares its key with the run's before it
parses anything else, checks every file's SHA-256, and only then decodes, building
no object but the plain values, arrays, tables and the few classes of
:func:`_classes`; anything else is a :class:`ContextError` and the briefing
computes its extras itself. A dict of tables (each unit's indicator paths) is
decoded table by table when asked for (:class:`LazyTables`).
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .exceptions import ParameterError

#: The context folder's files (see the module docstring).
MANIFEST_FILE = "manifest.json"
EXTRAS_FILE = "extras.json"
CONTEXT_FORMAT = "nq21model.briefing-context"
CONTEXT_VERSION = 4  # 2: the cross-check carries the forecast's own province path; 3: the allocation its scores;
#                   4: the backtest scores their share inside [q10, q90]
#: The pickle earlier versions wrote: never read, removed when a context is saved.
LEGACY_FILE = "extras.pickle"
_TABLE_FILE = re.compile(r"table-[0-9]{3,6}\.json")
_MANIFEST_MAX = 1 << 20


class ContextError(ParameterError):
    """A context folder that is missing, made for another run, altered or unreadable."""


def save_extras(extras, folder: str | Path) -> Path:
    """Write ``extras`` into ``folder`` as JSON (module docstring); each file
    atomically, the manifest last. Returns the manifest."""
    from . import __version__
    from .files import atomic_path

    folder = Path(folder)
    encoder = _Encoder()
    files = {EXTRAS_FILE: _dumps(encoder.encode(extras))}
    files.update(encoder.tables)
    digests = {}
    for name, text in files.items():
        data = text.encode("utf-8")
        digests[name] = hashlib.sha256(data).hexdigest()
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(data)
    manifest = {"format": CONTEXT_FORMAT, "version": CONTEXT_VERSION, "nq21model": __version__,
                "key": _Encoder().encode(extras.key), "files": digests}
    path = folder / MANIFEST_FILE
    with atomic_path(path) as tmp:
        tmp.write_text(_dumps(manifest, indent=1) + "\n", encoding="utf-8")
    for old in folder.iterdir():  # tables of an earlier save, and the pickle of earlier versions
        if old.name == LEGACY_FILE or (_TABLE_FILE.fullmatch(old.name) and old.name not in digests):
            old.unlink(missing_ok=True)
    return path


def load_extras(folder: str | Path, *, key: tuple | None = None):
    """The extras a batch saved in ``folder``: the manifest is read first and, when
    ``key`` is given, must carry that key (:func:`extras_key`); every file must have
    the SHA-256 the manifest records. ContextError otherwise."""
    return _read_context(folder, key=key)


def load_calibration_json(folder: str | Path, dataset, base_year: int) -> str | None:
    """The calibration JSON a batch saved in ``folder`` for this data and base year
    (the scenario and grouping aside: a calibration depends on neither), or None
    when there is none, or the folder was made for other data or is not intact."""
    from .extras import data_key

    def same_data(saved) -> bool:
        return (isinstance(saved, tuple) and len(saved) >= 2 and saved[1] == base_year
                and saved[0] == data_key(dataset))

    try:
        value = _read_context(folder, key_check=same_data, field="calibration_json")
    except ContextError:
        return None
    return value if isinstance(value, str) else None


#: A batch's warm kernel keeps the last context it decoded (:func:`remember` turns this
#: on): ``[memo key, value]``, the key the folder, its manifest (which holds every
#: file's SHA-256, checked at each read) and the field.
_LAST: list | None = None


def remember() -> None:
    """Keep the last context read in this process: the units of a batch that one warm
    kernel runs read the same context (0.08 s a district, more for a unit of many);
    each gets a copy of what was decoded, once its files are checked again."""
    global _LAST
    _LAST = []


def _read_context(folder, *, key=None, key_check=None, field=None):
    folder = Path(folder)
    path = folder / MANIFEST_FILE
    try:
        if path.stat().st_size > _MANIFEST_MAX:
            raise ContextError(f"{path}: too large for a context manifest")
        raw = path.read_bytes()
        manifest = json.loads(raw)
    except FileNotFoundError:
        raise ContextError(f"{path}: no briefing context here (made by 'nq21model briefings')") from None
    except (OSError, ValueError) as exc:
        raise ContextError(f"{path}: unreadable ({exc})") from None
    if not (isinstance(manifest, dict) and manifest.get("format") == CONTEXT_FORMAT
            and manifest.get("version") == CONTEXT_VERSION and isinstance(manifest.get("files"), dict)):
        raise ContextError(f"{path}: not a briefing context of this version")
    # ---- the key first: nothing else is parsed for another run
    try:  # plain values only (tuples, strings, numbers): no table, array or object
        saved_key = _Decoder({}, plain=True).decode(manifest.get("key"))
    except Exception as exc:
        raise ContextError(f"{path}: unreadable key ({type(exc).__name__}: {exc})") from None
    if key is not None and saved_key != key:
        raise ContextError(f"{folder}: made for another run (data, base year, grouping or scenario)")
    if key_check is not None and not key_check(saved_key):
        raise ContextError(f"{folder}: made for other data or another base year")
    # ---- then every file's SHA-256
    contents = {}
    for name, digest in manifest["files"].items():
        if not (name == EXTRAS_FILE or _TABLE_FILE.fullmatch(str(name))):
            raise ContextError(f"{path}: unexpected file name {name!r}")
        try:
            data = (folder / name).read_bytes()
        except OSError as exc:
            raise ContextError(f"{folder / name}: unreadable ({exc})") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise ContextError(f"{folder / name}: altered since it was saved (SHA-256 differs)")
        contents[name] = data
    if EXTRAS_FILE not in contents:
        raise ContextError(f"{path}: lists no {EXTRAS_FILE}")
    memo = (str(folder.resolve()), raw, field)
    if _LAST and _LAST[0] == memo:  # the same files as the last read: decoded then
        return copy.deepcopy(_LAST[1])
    # ---- only now the contents
    try:
        doc = json.loads(contents.pop(EXTRAS_FILE))
        decoder = _Decoder(contents)
        value = decoder.decode(doc["fields"][field] if field is not None else doc)
    except ContextError:
        raise
    except Exception as exc:  # any malformed content: the context is not used
        raise ContextError(f"{folder}: unreadable context ({type(exc).__name__}: {exc})") from None
    from .extras import BriefingExtras

    if field is None and not isinstance(value, BriefingExtras):
        raise ContextError(f"{folder}: holds no briefing extras")
    if _LAST is not None:
        _LAST[:] = [memo, copy.deepcopy(value)]
    return value


# ------------------------------------------------------------------ JSON codec


def _classes() -> dict:
    """The only classes a context may build (dataclasses, by their init fields)."""
    from .allocate import Allocation
    from .data import Dataset
    from .quotas import QuotaPlan
    from .extras import BriefingExtras
    from .targets import TrackerData

    return {"BriefingExtras": BriefingExtras, "TrackerData": TrackerData, "Allocation": Allocation,
            "Dataset": Dataset, "QuotaPlan": QuotaPlan}


def _dumps(doc, indent=None) -> str:
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, indent=indent,
                      separators=None if indent else (",", ":"))


def _float(value: float):
    if math.isfinite(value):
        return value
    return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}


_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class _Encoder:
    """Values → JSON-able documents; each DataFrame into a file of its own (``tables``)."""

    def __init__(self):
        self.tables: dict[str, str] = {}
        self._texts: dict[str, str] = {}
        self._ids: dict[int, int] = {}
        self._keep: list = []  # objects seen, alive while their ids are in use
        self._classes = None

    def encode(self, value):
        import dataclasses

        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return _float(value)
        if isinstance(value, np.generic):
            return {"$scalar": value.dtype.str, "value": self.encode(value.item())}
        if value is pd.NA:
            return {"$na": None}
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if isinstance(value, tuple):
            return {"$tuple": [self.encode(v) for v in value]}
        if isinstance(value, dict) and value and all(isinstance(v, pd.DataFrame) for v in value.values()):
            # a table per unit: each decoded when a notebook asks for it (:class:`LazyTables`)
            return {"$tables": [[self.encode(k), self.encode(v)["$frame"]] for k, v in value.items()]}
        if isinstance(value, (dict, LazyTables)):
            return {"$dict": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        if isinstance(value, np.ndarray):
            return {"$array": {"shape": list(value.shape), "values": self.values(value.ravel())}}
        if isinstance(value, pd.DataFrame):
            text = _dumps(self.frame(value))
            name = self._texts.setdefault(text, f"table-{len(self.tables):03d}.json")
            self.tables[name] = text  # the same table twice (e.g. a dataset in two parts): one file
            return {"$frame": name}
        if isinstance(value, pd.Series):
            return {"$series": {"index": self.index(value.index), "name": self.encode(value.name),
                                "values": self.values(value)}}
        if isinstance(value, pd.Index):
            return {"$index": self.index(value)}
        if self._classes is None:
            self._classes = {cls: name for name, cls in _classes().items()}
        cls_name = self._classes.get(type(value))
        if cls_name is not None and dataclasses.is_dataclass(value):
            if id(value) in self._ids:
                return {"$ref": self._ids[id(value)]}
            self._ids[id(value)] = n = len(self._ids)
            self._keep.append(value)
            fields = {f.name: self.encode(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
            return {"$object": cls_name, "id": n, "fields": fields}
        raise TypeError(f"the briefing context cannot hold a {type(value).__module__}.{type(value).__name__}")

    def frame(self, frame: pd.DataFrame) -> dict:
        return {"index": self.index(frame.index), "columns": self.index(frame.columns),
                "data": [self.values(frame.iloc[:, i]) for i in range(frame.shape[1])],
                "attrs": self.encode(dict(frame.attrs))}

    def index(self, index: pd.Index) -> dict:
        if isinstance(index, pd.RangeIndex):
            return {"range": [index.start, index.stop, index.step], "name": self.encode(index.name)}
        if isinstance(index, pd.MultiIndex):
            return {"levels": [self.index(index.get_level_values(i)) for i in range(index.nlevels)],
                    "names": [self.encode(n) for n in index.names]}
        return {"values": self.values(index), "name": self.encode(index.name)}

    def values(self, values) -> dict:
        """One column (a Series, an Index or a numpy array) with its exact dtype."""
        dtype = values.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            return {"category": {"categories": self.index(dtype.categories), "ordered": bool(dtype.ordered),
                                 "codes": pd.Categorical(values, dtype=dtype).codes.tolist()}}
        if isinstance(dtype, pd.StringDtype):
            na = "nan" if (isinstance(dtype.na_value, float) and math.isnan(dtype.na_value)) else "NA"
            items = np.asarray(values, dtype=object)
            return {"string": {"storage": dtype.storage, "na": na},
                    "values": [v if isinstance(v, str) else None for v in items]}
        if isinstance(dtype, np.dtype):
            array = np.asarray(values)
            if dtype.kind in "iub":
                return {"dtype": dtype.str, "values": array.tolist()}
            if dtype.kind == "f":
                if np.isfinite(array).all():
                    return {"dtype": dtype.str, "values": array.tolist()}
                return {"dtype": dtype.str, "values": [_float(v) for v in array.tolist()]}
            if dtype.kind in "mM":
                return {"dtype": dtype.str, "values": array.view("i8").tolist()}
            if dtype.kind == "O":
                return {"dtype": "|O", "values": [self.encode(v) for v in array.tolist()]}
        elif str(dtype) in _EXTENSION_DTYPES:
            items = np.asarray(values, dtype=object)
            return {"extension": str(dtype),
                    "values": [None if v is pd.NA or v is None else self.encode(v.item() if isinstance(v, np.generic)
                                                                                else v) for v in items]}
        raise TypeError(f"the briefing context cannot hold a column of dtype {dtype}")


_EXTENSION_DTYPES = {"boolean", "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
                     "Float32", "Float64"}


class LazyTables(Mapping):
    """A read-only dict of tables (e.g. each unit's indicator paths) decoded from a
    context when first asked for: a unit's notebook decodes its own, not the
    country's. A table that cannot be decoded reads as absent (the briefing then
    computes it)."""

    def __init__(self, names: dict, decode):
        self._names, self._decode, self._done = names, decode, {}

    def __getitem__(self, key):
        if key not in self._done:
            name = self._names[key]
            try:
                self._done[key] = self._decode(name)
            except Exception as exc:  # intact (its SHA-256 was checked) but not a table of this version
                raise KeyError(key) from exc
        return self._done[key]

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class _Decoder:
    """JSON documents → values: plain values, arrays, tables and the classes of
    :func:`_classes` only; anything else is a ContextError."""

    def __init__(self, tables: dict[str, bytes], *, plain: bool = False):
        self._tables = tables
        self._plain = plain  # only plain values: None, bool, str, numbers, lists, tuples, dicts
        self._objects: dict[int, object] = {}
        self._classes = None

    def decode(self, doc):
        if doc is None or isinstance(doc, (bool, str, int, float)):
            return doc
        if isinstance(doc, list):
            return [self.decode(v) for v in doc]
        if not isinstance(doc, dict):
            raise ContextError(f"unexpected JSON value {type(doc).__name__}")
        tag = next((k for k in doc if k.startswith("$")), None)
        body = doc.get(tag)
        if self._plain and tag not in ("$float", "$scalar", "$tuple", "$dict"):
            raise ContextError(f"unexpected value tag {tag!r} in a key")
        if tag == "$float":
            return _NON_FINITE[body]
        if tag == "$scalar":
            return _dtype(body).type(self.decode(doc["value"]))
        if tag == "$na":
            return pd.NA
        if tag == "$tuple":
            return tuple(self.decode(v) for v in body)
        if tag == "$dict":
            return {self.decode(k): self.decode(v) for k, v in body}
        if tag == "$tables":
            names = {self.decode(k): name for k, name in body}
            missing = [name for name in names.values() if name not in self._tables]
            if missing:
                raise ContextError(f"table {missing[0]!r} is not in the manifest")
            return LazyTables(names, lambda name: self.frame(json.loads(self._tables[name])))
        if tag == "$array":
            values = self.values(body["values"])
            return np.asarray(values).reshape([int(n) for n in body["shape"]])
        if tag == "$frame":
            if body not in self._tables:
                raise ContextError(f"table {body!r} is not in the manifest")
            return self.frame(json.loads(self._tables[body]))
        if tag == "$series":
            values = self.values(body["values"])
            return pd.Series(values, index=self.index(body["index"]), dtype=values.dtype,
                             name=self.decode(body["name"]), copy=False)
        if tag == "$index":
            return self.index(body)
        if tag == "$ref":
            return self._objects[int(body)]
        if tag == "$object":
            if self._classes is None:
                self._classes = _classes()
            cls = self._classes.get(body)
            if cls is None:
                raise ContextError(f"a context may not build a {body!r}")
            fields = {str(name): self.decode(value) for name, value in doc["fields"].items()}
            obj = cls(**fields)
            self._objects[int(doc["id"])] = obj
            return obj
        raise ContextError(f"unknown value tag {tag!r}")

    def frame(self, doc: dict) -> pd.DataFrame:
        index, columns = self.index(doc["index"]), self.index(doc["columns"])
        data = [self.values(v) for v in doc["data"]]
        if len(data) != len(columns):
            raise ContextError("a table's columns and data differ in number")
        rows = pd.RangeIndex(len(index))
        frame = pd.DataFrame({i: pd.Series(v, index=rows, dtype=v.dtype, copy=False) for i, v in enumerate(data)},
                             index=rows)
        frame.index, frame.columns = index, columns
        frame.attrs.update(self.decode(doc.get("attrs")) or {})
        return frame

    def index(self, doc: dict) -> pd.Index:
        if "range" in doc:
            start, stop, step = (int(v) for v in doc["range"])
            return pd.RangeIndex(start, stop, step, name=self.decode(doc["name"]))
        if "levels" in doc:
            return pd.MultiIndex.from_arrays([self.index(level) for level in doc["levels"]],
                                             names=[self.decode(n) for n in doc["names"]])
        values = self.values(doc["values"])
        return pd.Index(values, dtype=values.dtype, name=self.decode(doc["name"]), copy=False)

    def values(self, doc: dict):
        if "category" in doc:
            body = doc["category"]
            return pd.Categorical.from_codes(body["codes"], categories=self.index(body["categories"]),
                                             ordered=bool(body["ordered"]))
        if "string" in doc:
            na = np.nan if doc["string"]["na"] == "nan" else pd.NA
            dtype = pd.StringDtype(storage=doc["string"]["storage"], na_value=na)
            return pd.array([v if isinstance(v, str) else None for v in doc["values"]], dtype=dtype)
        if "extension" in doc:
            if doc["extension"] not in _EXTENSION_DTYPES:
                raise ContextError(f"unknown column type {doc['extension']!r}")
            return pd.array([self.decode(v) for v in doc["values"]], dtype=doc["extension"])
        dtype = _dtype(doc["dtype"])
        values = doc["values"]
        if dtype.kind in "iub":
            return np.array(values, dtype=dtype)
        if dtype.kind == "f":
            return np.array([self.decode(v) for v in values] if any(isinstance(v, dict) for v in values)
                            else values, dtype=dtype)
        if dtype.kind in "mM":
            return np.array(values, dtype="i8").view(dtype)
        out = np.empty(len(values), dtype=object)
        for i, v in enumerate(values):
            out[i] = self.decode(v)
        return out


def _dtype(text) -> np.dtype:
    """A numpy dtype from its ``dtype.str`` (bool, integer, float, datetime,
    timedelta or object only)."""
    if not isinstance(text, str) or not re.fullmatch(r"[<>|=][biufmMO][0-9]*(\[[a-zA-Z0-9]+\])?", text):
        raise ContextError(f"unexpected dtype {text!r}")
    return np.dtype(text)
