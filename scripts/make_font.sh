#!/usr/bin/env bash
# Regenerates assets/fonts/NotoSansSC-tuban.otf: Noto Sans CJK SC Regular (SIL OFL 1.1, Debian
# package fonts-noto-cjk) subset to every character GBK can encode (all text of delivered DBF
# data), plus Latin, punctuation, arrows and the symbols tuban draws (m², ≤, ≥, →, °, ∅).
# Needs: fonts-noto-cjk and fonttools (pip install fonttools).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 - <<'PY'
chars = set(range(0x20, 0x7F)) | set(range(0xA0, 0x180))
for lead in range(0x81, 0xFF):
    for trail in list(range(0x40, 0x7F)) + list(range(0x80, 0xFF)):
        try:
            chars.update(ord(c) for c in bytes([lead, trail]).decode("gbk"))
        except UnicodeDecodeError:
            pass
for a, b in [(0x2000, 0x206F), (0x2070, 0x209F), (0x2100, 0x214F), (0x2150, 0x218F), (0x2190, 0x21FF), (0x2200, 0x22FF),
             (0x2460, 0x24FF), (0x2500, 0x257F), (0x25A0, 0x25FF), (0x2600, 0x26FF), (0x3000, 0x303F), (0x3200, 0x32FF),
             (0x3300, 0x33FF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF)]:
    chars.update(range(a, b + 1))
open("/tmp/tuban-font-chars.txt", "w").write(",".join(f"U+{c:04X}" for c in sorted(chars)))
print(len(chars), "code points")
PY
pyftsubset /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc --font-number=2 \
  --unicodes-file=<(tr ',' '\n' < /tmp/tuban-font-chars.txt) \
  --layout-features='' --no-hinting --drop-tables+=GSUB,GPOS,VORG \
  --output-file=assets/fonts/NotoSansSC-tuban.otf
ls -la assets/fonts/NotoSansSC-tuban.otf
