"""LTX-2.3 IC-LoRA trainer: shards -> cached latents -> LoRA (diffusers + peft) -> held-out control gain.

The only part of synthgen that imports torch, diffusers, peft, transformers and accelerate. Entry points:
``synthgen-train`` (``synthgen.trainer.app``); for scripts ``synthgen.trainer.config.load_train_config`` (the
same settings from the same overrides) and ``synthgen.trainer.train.run(settings)`` (the recipe); and
``synthgen.trainer.ddp`` for ``accelerate launch`` / ``torchrun``. See docs/training.md.
"""
