#!/usr/bin/env python3
"""Check llmrelay's model table (``src/llmrelay/data/prices/*.json``); exit 1 on problems.

    python scripts/check_prices.py

Checks: every file is ``{"models": {name: row}}`` (``_meta.json`` aside); a model name is
in one file only; every row names a known provider and mode; prices are numbers in sane
ranges for their unit (a price per token above $1e-3 is a typo of a per-1M price); a
cached read costs less than an uncached one; limits are positive whole numbers; each
provider llmrelay serves with list prices has rows; Azure's and fine-tuned names resolve.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PRICES = ROOT / "src" / "llmrelay" / "data" / "prices"
MODES = {"chat", "completion", "embedding", "image_generation", "audio_transcription",
         "audio_speech", "moderation", "rerank"}
# price field suffix -> the highest sane value (USD per unit)
UNITS = {"_per_token": 1e-3, "_token_cost": 1e-3, "_per_image": 1.0, "_per_second": 0.01,
         "_per_character": 1e-3, "_per_query": 1.0, "_above_1hr": 1e-3}
# providers that must have rows of their own (list prices published by the vendor)
MUST_HAVE = ("openai", "text-completion-openai", "anthropic", "gemini", "mistral",
             "deepseek", "groq", "together_ai", "fireworks_ai", "openrouter", "perplexity",
             "xai")
# names that must resolve (bare, Azure spelling, fine-tunes, legacy)
MUST_RESOLVE = ("gpt-4o", "azure/gpt-4o", "azure/gpt-35-turbo", "ft:gpt-3.5-turbo:org:x:1",
                "ft:gpt-4o-mini-2024-07-18:org::id", "openai/ft:gpt-4.1-mini:o::i", "ada",
                "claude-3-5-sonnet-latest", "gemini/gemini-2.0-flash", "dall-e-3", "whisper-1")


def _price_problems(name: str, row: dict[str, Any]) -> list[str]:
    out = []
    for field, value in row.items():
        if "cost" not in field:
            continue
        limit = next((v for k, v in UNITS.items() if field.endswith(k)), None)
        if field.endswith("k_tokens"):
            limit = 1e-3
        if field.endswith("_per_image_by_size") and isinstance(value, dict):
            limit = UNITS["_per_image"]  # {"<quality>/<size>": USD per image}
            items = [(f"{field}[{k}]", v) for k, v in value.items()]
        else:
            items = [(field, value)]
        for where, price in items:
            if not isinstance(price, (int, float)) or isinstance(price, bool) or price < 0:
                out.append(f"{name}: {where} must be a number >= 0, got {price!r}")
            elif limit is not None and price > limit:
                out.append(f"{name}: {where}={price} is above {limit} (a per-1M price?)")
    cached, base = row.get("cache_read_input_token_cost"), row.get("input_cost_per_token")
    if cached is not None and base is not None and cached >= base > 0:
        out.append(f"{name}: cache reads ({cached}) must cost less than input ({base})")
    for field in ("max_input_tokens", "max_output_tokens"):
        value = row.get(field)
        if value is not None and (not isinstance(value, int) or value <= 0):
            out.append(f"{name}: {field} must be a positive whole number, got {value!r}")
    return out


def problems() -> list[str]:
    """Every problem found (empty when the table is sound)."""
    sys.path.insert(0, str(ROOT / "src"))
    from llmrelay import cost
    from llmrelay.cost import PROVIDER_PREFIXES
    from llmrelay.providers.registry import known_providers

    providers = set(known_providers()) | set(PROVIDER_PREFIXES)
    out: list[str] = []
    seen: dict[str, str] = {}
    per_provider: dict[str, int] = {}
    for path in sorted(PRICES.glob("[!_]*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if set(doc) != {"models"} or not isinstance(doc["models"], dict):
            out.append(f"{path.name}: must be {{\"models\": {{name: row}}}}")
            continue
        for name, row in doc["models"].items():
            if name in seen:
                out.append(f"{name}: in {seen[name]} and {path.name}")
            seen[name] = path.name
            if row.get("provider") not in providers:
                out.append(f"{name}: unknown provider {row.get('provider')!r}")
            if row.get("mode") not in MODES:
                out.append(f"{name}: unknown mode {row.get('mode')!r}")
            per_provider[row.get("provider")] = per_provider.get(row.get("provider"), 0) + 1
            out += _price_problems(name, row)
    out += [f"provider {p} has no rows" for p in MUST_HAVE if not per_provider.get(p)]
    out += [f"{m} does not resolve" for m in MUST_RESOLVE if cost.lookup(m) is None]
    return out


def main() -> int:
    found = problems()
    for line in found:
        print(line)
    print(f"check_prices: {len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
