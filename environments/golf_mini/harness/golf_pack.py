"""golf-mini harness, pack phase: the code part of the artifact is the recipe, LZMA-compressed.
Runs no recipe code."""

import lzma
import os


def main() -> None:
    code = b"".join(open(os.path.join("recipe", f), "rb").read() for f in sorted(os.listdir("recipe")) if f.endswith(".py"))
    packed = lzma.compress(code, preset=9 | lzma.PRESET_EXTREME)
    if os.path.lexists("out/code.xz"):
        os.remove("out/code.xz")
    with open("out/code.xz", "wb") as f:
        f.write(packed)
    print(f"harness: code {len(code):,} bytes, packed {len(packed):,}")


if __name__ == "__main__":
    main()
