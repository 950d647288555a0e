"""Print the requirements of the installed LiteLLM's ``proxy`` extra, one a line.

    bench/.venv-litellm/bin/python bench/proxy_extra_reqs.py [--relax]

Run with the LiteLLM venv's interpreter (it reads that venv's package metadata). With
``--relax``: leave out the ``litellm-proxy`` package and drop the exact pins of the other
``litellm-*`` companions (the registry may not serve the pinned builds); used by
bench/proxy_bench.py when ``pip install litellm[proxy]==<version>`` cannot be resolved.
"""

from __future__ import annotations

import importlib.metadata as metadata
import sys

from packaging.requirements import Requirement


def proxy_requirements(relax: bool) -> list[str]:
    out = []
    for line in metadata.requires("litellm") or []:
        req = Requirement(line)
        if req.marker is None or not req.marker.evaluate({"extra": "proxy"}):
            continue
        if req.marker.evaluate({"extra": ""}):
            continue  # a base requirement, already installed with litellm
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        spec = str(req.specifier)
        if relax and req.name.startswith("litellm"):
            if req.name == "litellm-proxy":
                continue
            spec = ""
        out.append(f"{req.name}{extras}{spec}")
    return out


if __name__ == "__main__":
    print("\n".join(proxy_requirements("--relax" in sys.argv[1:])))
