"""Procedural 16x16 pixel-art sprites: the course's own, fully deterministic dataset.

The course trains a diffusion model on 16x16 RGB sprites in five classes
(``LABEL_NAMES``): front-facing chibi humans, non-human creatures, food, spell
effects and characters walking in profile.  Every sprite is drawn from
scratch, so the dataset can be rebuilt anywhere, byte for byte.

Inside, each module imports only from the ones listed above it:

- ``canvas``: the white 16x16 ``Canvas``, the boolean mask shapes parts are
  made of (``ellipse``, ``rect``, ``poly``, ``line``, ``dots``...) and
  ``Tone``, one colour's pixel-art ramp.
- ``palettes``: the named ``PALETTES``, skin, hair and material colours, the
  jittered ``Paint`` of one sprite, and the random choices of drawing code.
- ``humans``, ``creatures``, ``food``, ``spells``, ``side_facing``: one module
  per class, each a list of templates and the routines that draw them.
- ``templates``: the class labels, ``TEMPLATES`` (every kind's templates, in
  a fixed order) and ``render_sprite``, which draws and places one sprite.
- ``dataset``: the splits (``generate_sprites``), their files, metadata and
  checksums (``write_sprite_dataset``, ``verify_dataset``,
  ``dataset_digest``) and ``save_preview``.

Data flow: ``write_sprite_dataset`` -> ``generate_sprites`` per split, with
sprite ``i`` drawn from its own generator seeded ``[seed, split_code, i]`` ->
``render_sprite``: pick a template of the class, pick a palette it allows and
jitter it into a ``Paint``, let the template paint its parts on a ``Canvas``,
outline the silhouette, then jitter proportions, mirror and shift -> images,
one-hot labels and [template, palette] attributes in .npy files, listed with
their sha256 in ``SHA256SUMS``, whose own sha256 is the dataset digest.
"""
from .canvas import IMAGE_SIZE
from .dataset import (GENERATOR_VERSION, SPLITS, SpriteArrays, class_counts, dataset_digest, dataset_files,
                      generate_sprites, save_preview, sprite_labels, sprite_rng, verify_dataset, write_sprite_dataset)
from .palettes import PALETTES, Palette
from .templates import CLASS_SHARES, LABEL_NAMES, TEMPLATES, Template, render_sprite

__all__ = ["CLASS_SHARES", "GENERATOR_VERSION", "IMAGE_SIZE", "LABEL_NAMES", "PALETTES", "SPLITS", "TEMPLATES",
           "Palette", "SpriteArrays", "Template", "class_counts", "dataset_digest", "dataset_files", "generate_sprites",
           "render_sprite", "save_preview", "sprite_labels", "sprite_rng", "verify_dataset", "write_sprite_dataset"]
