"""Build a blinded rating set: one self-contained page for raters, and its key kept apart.

The page (``rate.html``) holds, per item, an opaque id, the source image, the final frame (or
every frame, to play), the target class's name and, with ``ask_class``, the classes to choose
from. Nothing else: no method, regime, budget, score, file name or path reaches it, and the page
is checked for every method and regime name before it is written (images are re-encoded until
their base64 text spells none of them). The key (``rate.key.json``) maps each id to what was
rated (method, regime, budget, source, scores, or which attention check it is) and carries the
set's hash, which every export of the page repeats, so that ``steerlens rate --tabulate`` can
refuse ratings of another set.

The order is drawn with ``numpy.random.default_rng(seed)``; the same source never appears twice
in a row (:func:`~steerlens.rating.order.no_repeat_order`). The same folders and seed give the
same page, byte for byte, and the same hash.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from steerlens.errors import ConfigError
from steerlens.outputs import dumps_json, write_json, write_text_atomic
from steerlens.rating.items import Candidate, collect_candidates
from steerlens.rating.order import no_repeat_order

__all__ = ["QUESTIONS", "RatingSet", "blind_names", "blind_words", "build_rating_set", "key_path", "write_rating_set"]

#: The authors' questions (paper.md, the human pilot), with their answers and keys.
QUESTIONS = {
    "change": {"text": "Is there a clear change toward the target class?",
               "answers": [["yes", "y"], ["no", "n"]]},
    "corrupted": {"text": "Is the image corrupted (noise, colour casts, artefacts)?",
                  "answers": [["yes", "c"], ["no", "k"]]},
    "looks_like": {"text": "Which class does it look like?"},
}
#: Format tags of the key and of the page's data.
KEY_FORMAT = "steerlens-rate-key-1"
PAGE_FORMAT = "steerlens-rate-page-1"
#: Smaller images are enlarged (nearest neighbour, integer factor) to about this side on the page.
DISPLAY_SIDE = 224
#: Images whose longer side is at most this are stored as PNG, larger ones as lossless WebP.
PNG_MAX_SIDE = 64
#: Strength of the corrupted attention control: Gaussian noise (std, in [0, 1] units) and, for
#: colour images, a colour cast (per-channel gain).
CONTROL_NOISE = 0.3
CONTROL_CAST = (1.3, 0.85, 0.7)
#: Words that would hint at a method or regime (besides the full names).
HINT_WORDS = ("csp", "fourier", "pixel", "flow", "phase", "amplitude", "joint", "motion",
              "persistent", "live", "one-step")


@dataclass
class RatingSet:
    """A rating page's data (what raters see) and its key (what it maps to)."""

    page_data: dict[str, Any]
    key: dict[str, Any]

    @property
    def set_hash(self) -> str:
        """SHA-256 of the page's data: the identity every export carries."""
        return str(self.page_data["set"])


def blind_names(candidates: Sequence[Candidate] = ()) -> list[str]:
    """Every method and regime name (registered and found in ``candidates``), lower case.

    Examples
    --------
    >>> {"pixel", "csp-phase", "persistent"} <= set(blind_names())
    True
    """
    from steerlens.methods.registry import method_names
    from steerlens.regimes import REGIMES

    words = {*method_names(), *REGIMES}
    words |= {c.method for c in candidates} | {c.regime for c in candidates}
    return sorted(w.lower() for w in words if w and w != "?")


def blind_words(candidates: Sequence[Candidate] = ()) -> list[str]:
    """Every word the page's text must not hold: :func:`blind_names` and :data:`HINT_WORDS`.

    Examples
    --------
    >>> {"csp", "fourier", "pixel"} <= set(blind_words())
    True
    """
    return sorted({*blind_names(candidates), *HINT_WORDS})


def _enlarged(image: np.ndarray) -> Image.Image:
    h, w, c = image.shape
    img = Image.fromarray(image[..., 0] if c == 1 else image, mode="L" if c == 1 else "RGB")
    factor = max(1, DISPLAY_SIDE // max(h, w))
    return img.resize((w * factor, h * factor), Image.NEAREST) if factor > 1 else img


def _encode(img: Image.Image, png: bool, attempt: int) -> str:
    """Attempt 0: PNG (small images) or lossless WebP. Later attempts: PNG with a text chunk of
    ``attempt`` bytes before the image data, which shifts every base64 character after it."""
    buf = io.BytesIO()
    if attempt:
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("c", "0" * attempt)
        img.save(buf, format="PNG", pnginfo=info)
        png = True
    elif png:
        img.save(buf, format="PNG", optimize=True)
    else:
        img.save(buf, format="WEBP", lossless=True, quality=100, method=4)
    mime = "png" if png else "webp"
    return f"data:image/{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def blind_uri(image: np.ndarray, names: Sequence[str]) -> str:
    """``image`` ``(H, W, C)`` uint8 as a lossless ``data:`` URI (enlarged if small) whose text
    spells none of ``names`` (re-encoded with a shifted layout until it does not; a name with a
    hyphen can never appear in base64).

    Examples
    --------
    >>> uri = blind_uri(np.zeros((28, 28, 1), np.uint8), ["pixel"])
    >>> uri.startswith("data:image/png;base64,"), "pixel" in uri
    (True, False)
    """
    img = _enlarged(image)
    png = max(image.shape[:2]) <= PNG_MAX_SIDE
    for attempt in range(16):
        uri = _encode(img, png, attempt)
        if not any(w in uri for w in names):
            return uri
    raise RuntimeError("could not encode an image whose base64 text names no method")


def _rng_id(rng: np.random.Generator, taken: set[str]) -> str:
    while True:
        value = "i" + "".join(f"{b:02x}" for b in rng.integers(0, 256, size=5))
        if value not in taken:
            taken.add(value)
            return value


def _control(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The heavily corrupted attention control: strong noise, and a colour cast on colour images."""
    x = image.astype(np.float32) / 255.0
    if x.shape[2] == 3:
        x = x * np.asarray(CONTROL_CAST, np.float32)
    x = x + rng.normal(0.0, CONTROL_NOISE, size=x.shape).astype(np.float32)
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


TopK = Callable[[Candidate, np.ndarray], list[str]]


def driver_top5(model: str | None = None, device: str = "cpu") -> TopK:
    """A function giving the driver's five most probable class names for an image.

    The driver is the model each result names (built-in models), or ``model`` for all. A result
    whose weights' SHA-256 differs from the loaded model's is refused in one line.
    """
    import torch

    from steerlens.models import load_model

    loaded: dict[str, Any] = {}

    def top5(c: Candidate, image: np.ndarray) -> list[str]:
        spec = model or c.model
        if not spec:
            raise ConfigError(f"{c.origin}/result.json does not name its model; pass --model "
                              "for --ask-class")
        if spec not in loaded:
            loaded[spec] = load_model(spec, device=device, progress=False)
        clf = loaded[spec]
        have = (clf.spec or {}).get("weights_sha256") if hasattr(clf, "spec") else None
        if c.weights_sha256 and have and have != c.weights_sha256:
            raise ConfigError(f"{c.origin} was made with other weights than model {spec!r} "
                              f"({c.weights_sha256[:12]} vs {have[:12]}); pass the driver as --model")
        h, w, ch = image.shape
        if (h, w) != tuple(clf.input_size) or ch != clf.channels:
            raise ConfigError(f"{c.origin}: frames are {ch}x{h}x{w} but model {spec!r} takes "
                              f"{clf.channels}x{clf.input_size[0]}x{clf.input_size[1]}; pass the "
                              "driver as --model")
        x = torch.from_numpy(image.transpose(2, 0, 1).copy()).float().div(255.0)[None].to(device)
        p = clf.probabilities(x)[0]
        idx = torch.topk(p, min(5, p.numel())).indices.tolist()
        return [clf.class_names[i] if clf.class_names else str(i) for i in idx]

    return top5


def build_rating_set(
    folders: Sequence[str | Path],
    seed: int = 0,
    ask_class: bool = False,
    attention_checks: int = 0,
    play: bool = False,
    top5: TopK | None = None,
    title: str = "Rate the images",
) -> RatingSet:
    """Collect the morphs of ``folders`` into a blinded, shuffled rating set.

    Parameters
    ----------
    folders
        Saved results (``morph``, ``compare``, ``batch``, ``experiment`` folders or trees of them).
    seed
        Seed of the order, the ids, the attention checks and the shuffled class choices.
    ask_class
        Also ask "Which class does it look like?": the driver's top-5 on the shown image,
        shuffled, plus the source class (``top5`` computes them; default :func:`driver_top5`).
    attention_checks
        Number of each attention check: an unedited source, and the source heavily corrupted
        (:func:`_control`). The key marks them; the page cannot tell them apart.
    play
        Show every saved frame as a playable morph (results saved with ``frames.npz``) instead
        of the final frame alone.
    title
        Heading of the page.

    Returns
    -------
    RatingSet

    Examples
    --------
    >>> rs = build_rating_set(["out/compare"], seed=1)                    # doctest: +SKIP
    >>> len(rs.set_hash), rs.key["set_hash"] == rs.set_hash               # doctest: +SKIP
    (64, True)
    """
    if attention_checks < 0:
        raise ConfigError(f"attention_checks must be 0 or more, got {attention_checks}",
                          "attention_checks")
    cands = collect_candidates(folders)
    words = blind_names(cands)
    rng = np.random.default_rng(seed)
    # (kind, candidate, frames shown)
    entries: list[tuple[str, Candidate, np.ndarray]] = [("morph", c, c.frames) for c in cands]
    by_source: dict[str, list[Candidate]] = {}
    for c in cands:
        by_source.setdefault(c.source_key, []).append(c)
    keys = sorted(by_source)
    for kind in ("unedited", "corrupted"):
        picks = rng.permutation(len(keys)).tolist() * (attention_checks // max(len(keys), 1) + 1)
        for j in picks[:attention_checks]:
            group = by_source[keys[j]]
            base = group[int(rng.integers(len(group)))]
            k = len(base.frames) if play else 2
            if kind == "unedited":
                shown = np.repeat(base.source[None], k, axis=0)
            else:
                noisy = _control(base.source, rng)
                ramp = np.linspace(0.0, 1.0, k, dtype=np.float32)[:, None, None, None]
                shown = ((1 - ramp) * base.source[None] + ramp * noisy[None] + 0.5).astype(np.uint8)
            entries.append((kind, base, shown))
    order = no_repeat_order([c.source_key for _, c, _ in entries], rng)
    if ask_class and top5 is None:
        top5 = driver_top5()
    taken: set[str] = set()
    items, key_items = [], {}
    for pos, e in enumerate(order):
        kind, c, shown = entries[e]
        item_id = _rng_id(rng, taken)
        item: dict[str, Any] = {"id": item_id, "target": c.target_name,
                                "source": blind_uri(shown[0], words),
                                "final": blind_uri(shown[-1], words)}
        if play and len(shown) > 2:
            item["frames"] = [blind_uri(f, words) for f in shown[1:-1]]
        record: dict[str, Any] = {
            "position": pos, "kind": kind if kind == "morph" else f"attention-{kind}",
            "method": c.method if kind == "morph" else None,
            "regime": c.regime if kind == "morph" else None,
            "budget": c.budget if kind == "morph" else None,
            "source": c.source_key, "source_label": c.source_label,
            "source_name": c.source_name, "target_name": c.target_name,
            "model": c.model, "origin": c.origin,
            "scores": c.scores if kind == "morph" else {},
        }
        if ask_class:
            assert top5 is not None
            names = top5(c, shown[-1])
            choices = list(dict.fromkeys([*names, c.source_name]))
            item["choices"] = [choices[i] for i in rng.permutation(len(choices))]
            record["driver_top5"] = names
        items.append(item)
        key_items[item_id] = record
    data: dict[str, Any] = {
        "format": PAGE_FORMAT,
        "title": title,
        "questions": {k: v for k, v in QUESTIONS.items() if ask_class or k != "looks_like"},
        "items": items,
    }
    set_hash = hashlib.sha256(dumps_json(data, indent=None).encode("utf-8")).hexdigest()
    data = {"set": set_hash, **data}
    n_att = sum(kind != "morph" for kind, _, _ in entries)
    key = {
        "format": KEY_FORMAT,
        "set_hash": set_hash,
        "seed": seed,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "folders": [str(f) for f in folders],
        "page": None,
        "ask_class": ask_class,
        "play": play,
        "attention_checks": attention_checks,
        "n_items": len(items),
        "n_attention": n_att,
        "order": [it["id"] for it in items],
        "items": key_items,
    }
    return RatingSet(page_data=data, key=key)


def _script_json(data: dict[str, Any]) -> str:
    """JSON that is safe inside ``<script type="application/json">`` (no ``<``, ``>``, ``&``)."""
    text = dumps_json(data, indent=None)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page_html(rs: RatingSet) -> str:
    """The rating page of ``rs`` as one self-contained HTML string; ``RuntimeError`` if it holds
    any word of :func:`blind_words` (outside class names), which would be a bug."""
    from steerlens.web.render import REPORT_CSP, environment

    html = environment().get_template("rate.html").render(
        data_json=_script_json(rs.page_data), title=rs.page_data["title"],
        set_short=rs.set_hash[:12], n_items=len(rs.page_data["items"]), csp=REPORT_CSP,
        ask_class="looks_like" in rs.page_data["questions"],
    )
    check_blind(html, rs)
    return html


def check_blind(html: str, rs: RatingSet) -> None:
    """Raise ``RuntimeError`` if ``html`` names a method or regime anywhere: in its images'
    base64 text (as written) or, any case, as a word of its text (class names aside)."""
    found = {str(r.get(k) or "").lower() for r in rs.key["items"].values()
             for k in ("method", "regime")} - {""}
    names = sorted({*blind_names(), *found})
    words = sorted({*blind_words(), *found})
    uris = re.findall(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+", html)
    for uri in uris:
        hit = next((w for w in names if w in uri), None)
        if hit:
            raise RuntimeError(f"an image of the rating page spells {hit!r}")
    text = re.sub(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+", "", html)
    classes = {it["target"] for it in rs.page_data["items"]}
    classes |= {c for it in rs.page_data["items"] for c in it.get("choices", [])}
    for name in sorted(classes, key=len, reverse=True):
        if name:
            text = text.replace(json.dumps(name)[1:-1], "").replace(name, "")
    for w in words:
        if re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", text, flags=re.IGNORECASE):
            raise RuntimeError(f"the rating page names {w!r}")


def key_path(page: str | Path) -> Path:
    """Where the key of the page ``page`` goes: beside it, ``<stem>.key.json``.

    Examples
    --------
    >>> key_path("out/rate.html").as_posix()
    'out/rate.key.json'
    """
    page = Path(page)
    return page.with_name(page.stem + ".key.json")


def write_rating_set(rs: RatingSet, out: str | Path) -> tuple[Path, Path]:
    """Write the page to ``out`` and the key beside it (each atomically); returns both paths."""
    out = Path(out)
    html = page_html(rs)
    key = dict(rs.key, page=out.name)
    kpath = write_json(key_path(out), key)
    try:
        write_text_atomic(out, html)
    except BaseException:
        kpath.unlink(missing_ok=True)
        raise
    return out, kpath
