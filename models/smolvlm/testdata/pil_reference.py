# Expected values for TestPreprocessMatchesPillow: the steps of transformers'
# Idefics3ImageProcessor.preprocess (resize to the longest edge, resize_for_vision_encoder,
# split_image, rescale, normalize) transcribed with Pillow and NumPy themselves, on synthetic
# images. Run with Debian 12's python3-pil (9.4) and python3-numpy (1.24):
#   /usr/bin/python3 models/smolvlm/testdata/pil_reference.py
import hashlib, math
import numpy as np
from PIL import Image

def synth(w, h):
    y, x = np.mgrid[0:h, 0:w]
    c = np.arange(3)[None, None, :]
    v = (x[..., None] * 31 + y[..., None] * 17 + c * 89 + ((x * y) % 7)[..., None] * 11) % 256
    return v.astype(np.uint8)

def resize(a, h, w):
    if a.shape[0] == h and a.shape[1] == w:
        return a
    return np.array(Image.fromarray(a).resize((w, h), resample=Image.LANCZOS))

def longest(h, w, m):  # _resize_output_size_rescale_to_max_len, then the 4096 bound
    ar = w / h
    if w >= h:
        w = m; h = int(w / ar); h += h % 2
    else:
        h = m; w = int(h * ar); w += w % 2
    h, w = max(h, 1), max(w, 1)
    ar = w / h
    if w >= h and w > 4096:
        w = 4096; h = int(w / ar)
    elif h > w and h > 4096:
        h = 4096; w = int(h * ar)
    return max(h, 1), max(w, 1)

def for_encoder(h, w, t):
    ar = w / h
    if w >= h:
        w = math.ceil(w / t) * t; h = int(w / ar); h = math.ceil(h / t) * t
    else:
        h = math.ceil(h / t) * t; w = int(h * ar); w = math.ceil(w / t) * t
    return h, w

def norm(a):
    x = (a.astype(np.float64) * (1 / 255)).astype(np.float32)
    mean = np.array([0.5] * 3, dtype=np.float32)
    x = (x - mean) / mean  # channels-last, as normalize() does for HWC
    return np.ascontiguousarray(x.transpose(2, 0, 1))

for (w, h, le, t) in [(300, 200, 256, 64), (45, 70, 128, 64), (64, 64, 64, 64), (1000, 30, 256, 64), (97, 131, 512, 128)]:
    a = synth(w, h)
    a = resize(a, *longest(h, w, le))
    a = resize(a, *for_encoder(a.shape[0], a.shape[1], t))
    H, W = a.shape[:2]
    tiles, rows, cols = [], 0, 0
    if H > t or W > t:
        rows, cols = H // t, W // t
        for r in range(rows):
            for c in range(cols):
                tiles.append(a[r * t:(r + 1) * t, c * t:(c + 1) * t])
        a = resize(a, t, t)
    tiles.append(a)
    hsh = hashlib.sha256(b"".join(norm(x).astype("<f4").tobytes() for x in tiles)).hexdigest()
    print(f'{{{w}, {h}, {le}, {t}, {rows}, {cols}, "{hsh}"}},')
