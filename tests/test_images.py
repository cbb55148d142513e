"""Figures and displayed images come back as MCP image content, small enough for any client."""

from __future__ import annotations

import base64
import io

import pytest
from conftest import run, text_of
from mcp import Client
from mcp.types import ImageContent
from PIL import Image

pytestmark = pytest.mark.anyio


async def test_a_matplotlib_figure_comes_back_as_an_image(client: Client) -> None:
    code = (
        "import matplotlib\nmatplotlib.use('module://matplotlib_inline.backend_inline')\n"
        "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nprint('plotted')\nplt.show()"
    )
    result = await run(client, code)
    assert not result.is_error
    assert text_of(result) == "plotted"
    images = [c for c in result.content if isinstance(c, ImageContent)]
    assert len(images) == 1
    picture = Image.open(io.BytesIO(base64.b64decode(images[0].data)))
    assert images[0].mime_type == "image/png" and picture.format == "PNG"
    assert picture.width > 100 and picture.height > 100


async def test_a_huge_image_is_downscaled_into_the_replys_image_budget(client: Client) -> None:
    # Noise does not compress: 4000×3000 RGB noise is 36 MB raw and about as much as PNG.
    code = (
        "import io, os\nfrom PIL import Image as P\nfrom IPython.display import Image, display\n"
        "buf = io.BytesIO()\nP.frombytes('RGB', (4000, 3000), os.urandom(4000 * 3000 * 3)).save(buf, 'PNG')\n"
        "display(Image(data=buf.getvalue()))\nlen(buf.getvalue()) > 30_000_000"
    )
    result = await run(client, code)
    assert text_of(result) == "True"
    (image,) = [c for c in result.content if isinstance(c, ImageContent)]
    assert len(image.data) <= 80_000  # the reply's image budget, in base64 characters
    data = base64.b64decode(image.data)
    picture = Image.open(io.BytesIO(data))
    assert max(picture.size) <= 1024
    assert picture.width / picture.height == pytest.approx(4 / 3, rel=0.02)


async def test_images_beyond_the_per_call_limit_are_reported_not_sent(client: Client) -> None:
    code = (
        "import io\nfrom PIL import Image as P\nfrom IPython.display import Image, display\n"
        "for i in range(6):\n    buf = io.BytesIO()\n    P.new('RGB', (50, 50), (i * 40, 0, 0)).save(buf, 'PNG')\n"
        "    display(Image(data=buf.getvalue()))"
    )
    result = await run(client, code)
    images = [c for c in result.content if isinstance(c, ImageContent)]
    assert len(images) == 4
    assert sum(len(i.data) for i in images) <= 80_000
    assert "[2 more image(s) not returned; display fewer at a time.]" in text_of(result)


async def test_several_large_figures_share_the_budget(client: Client) -> None:
    code = (
        "import io, os\nfrom PIL import Image as P\nfrom IPython.display import Image, display\n"
        "for i in range(3):\n    buf = io.BytesIO()\n"
        "    P.frombytes('RGB', (800, 600), os.urandom(800 * 600 * 3)).save(buf, 'PNG')\n"
        "    display(Image(data=buf.getvalue()))"
    )
    images = [c for c in (await run(client, code)).content if isinstance(c, ImageContent)]
    assert len(images) == 3
    assert sum(len(i.data) for i in images) <= 80_000
    for image in images:
        picture = Image.open(io.BytesIO(base64.b64decode(image.data)))
        assert picture.width / picture.height == pytest.approx(4 / 3, rel=0.03)
