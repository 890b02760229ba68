"""Where each named data set's files come from, and the checksums that identify them.

Every file is verified before it is read, whether it was downloaded or placed by hand. Only
the official distributions (or the mirror torchvision uses for them) are listed.

Provenance of the checksums:

- MNIST: sha256 from the project's data README (``shared/data/README.md``), which also
  lists the md5s published in torchvision's ``MNIST.resources``.
- Fashion-MNIST: md5 as published by Zalando Research and listed in torchvision's
  ``FashionMNIST.resources``.
- Pendigits: sha256 from the project's data README (the UCI files, which publish none).
- USPS: md5 listed in torchvision's ``USPS.split_list`` (the LIBSVM copies of the data).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RemoteFile:
    """One file of a named data set.

    Parameters
    ----------
    filename : str
        The official file name; the file is looked for under this name.
    urls : tuple of str
        Official download locations, tried in order.
    checksum : str
        ``"<algorithm>:<hex digest>"`` with algorithm ``sha256`` or ``md5``.
    """

    filename: str
    urls: tuple[str, ...]
    checksum: str


def _files(bases: tuple[str, ...], checksums: dict[str, str]) -> dict[str, RemoteFile]:
    return {
        name: RemoteFile(name, tuple(base + name for base in bases), checksum)
        for name, checksum in checksums.items()
    }


_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",  # the mirror torchvision uses
    "http://yann.lecun.com/exdb/mnist/",  # the original site
)
_FASHION_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # Zalando's, as in torchvision
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
_UCI_PENDIGITS = ("https://archive.ics.uci.edu/ml/machine-learning-databases/pendigits/",)
_LIBSVM_MULTICLASS = ("https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/",)

#: Files of each downloadable data set, by canonical data-set name and file name.
SOURCES: dict[str, dict[str, RemoteFile]] = {
    "mnist": _files(
        _MNIST_MIRRORS,
        {
            "train-images-idx3-ubyte.gz": "sha256:"
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "sha256:"
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "sha256:"
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "sha256:"
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
    ),
    "fashion-mnist": _files(
        _FASHION_MIRRORS,
        {
            "train-images-idx3-ubyte.gz": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "md5:25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "md5:bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "md5:bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
    "pendigits": _files(
        _UCI_PENDIGITS,
        {
            "pendigits.tra": "sha256:"
            "e2b9eb9f0d0467e2b64a4816a3420edf2b8043447576f4b84337aba44a9f97d3",
            "pendigits.tes": "sha256:"
            "8bd03229c5c5291fefe43e45465dd948d2645bf23328b9d993e0b777666b2015",
        },
    ),
    "usps": _files(
        _LIBSVM_MULTICLASS,
        {
            "usps.bz2": "md5:ec16c51db3855ca6c91edd34d0e9b197",
            "usps.t.bz2": "md5:8ea070ee2aca1ac39742fdd1ef5ed118",
        },
    ),
}
