"""A short PyTorch program that applies a plan's settings: AMP, checkpointing, accumulation, optimizer,
freezing, LoRA/QLoRA, quantized or 16-bit weights.

    >>> from gpuplan.workload.spec import Workload, Precision
    >>> code = snippet(Workload("resnet50", batch=16, grad_accum=4, precision=Precision.AMP_FP16))
    >>> compile(code, "<plan>", "exec") is not None
    True

The code mirrors what gpuplan traced (trace/tracer.py, workload/techniques.py): autocast with GradScaler
for fp16 and without it for bf16, non-reentrant checkpointing per block (Hugging Face models use their own
switch), the loss divided by the number of micro-steps, gradients set to None after each optimizer step,
the foreach optimizers PyTorch picks on CUDA. ``model_code``/``data_code``/``device`` let a caller (and the
tests) swap in their own model, data and device.
"""

from __future__ import annotations

import json

from gpuplan.workload.spec import Mode, OptimizerKind, Precision, Workload
from gpuplan.workload.techniques import _HEAD_NAMES
from gpuplan.workload.zoo import ModelSpec, resolve_model

_AUTO_CLASS = {"causal-lm": "AutoModelForCausalLM", "masked-lm": "AutoModelForMaskedLM",
               "seq2seq": "AutoModelForSeq2SeqLM", "image-classification": "AutoModelForImageClassification",
               "seq-classification": "AutoModelForSequenceClassification"}
PYTORCH_MIN = "2.4"  # torch.amp.GradScaler(device) and the APIs used below; the version range gpuplan models

_CHECKPOINT_HELPER = '''
class Checkpointed(torch.nn.Module):
    """Recompute this block in backward instead of keeping its activations."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, *args, **kwargs):
        return checkpoint(self.inner, *args, use_reentrant=False, **kwargs)


# wrap every repeated block: children of Sequential/ModuleList containers made of sub-modules
for container in list(model.modules()):
    kids = list(container.named_children())
    if (isinstance(container, (torch.nn.Sequential, torch.nn.ModuleList)) and len(kids) >= 2
            and all(any(True for _ in k.children()) for _, k in kids)
            and not any(isinstance(k, Checkpointed) for _, k in kids)):
        for name, child in kids:
            setattr(container, name, Checkpointed(child))
'''


def _q(text: str) -> str:
    """A double-quoted Python string literal."""
    return json.dumps(text)


def _model_lines(w: Workload, spec: ModelSpec, finetune: bool, imports: list[str]) -> list[str]:
    quant = w.precision.is_weight_only_quant
    if spec.hf:
        imports.append("import transformers")
        cls = _AUTO_CLASS.get(spec.hf_task or "", "AutoModel")
        src = w.hf_config.rsplit("/", 1)[0] if w.hf_config else spec.name
        kwargs = []
        if quant:
            if w.precision is Precision.INT8:
                kwargs.append("quantization_config=transformers.BitsAndBytesConfig(load_in_8bit=True)")
            else:
                kwargs.append("quantization_config=transformers.BitsAndBytesConfig(\n        load_in_4bit=True, "
                              "bnb_4bit_quant_type=\"nf4\", bnb_4bit_compute_dtype=torch.float16)")
            kwargs.append("device_map={\"\": 0}")
        elif w.precision in (Precision.FP16, Precision.BF16):
            kwargs.append(f"dtype=torch.{'float16' if w.precision is Precision.FP16 else 'bfloat16'}")
        args = ", ".join([_q(src), *kwargs])
        if finetune or quant:
            return [f"model = transformers.{cls}.from_pretrained({args})"]
        extra = (", " + ", ".join(kwargs)) if kwargs else ""
        return [f"config = transformers.AutoConfig.from_pretrained({_q(src)})",
                f"model = transformers.{cls}.from_config(config{extra})  # from scratch"]
    if spec.name.startswith("timm:"):
        imports.append("import timm")
        return [f"model = timm.create_model({_q(spec.name.split(':', 1)[1])}, pretrained={finetune})"]
    if spec.family in ("cnn", "transformer") and ":" not in spec.name and spec.name not in (
            "lenet5", "cifar_cnn", "lstm", "mlp"):
        imports.append("import torchvision")
        weights = '"DEFAULT"' if finetune else "None"
        return [f"model = torchvision.models.get_model({_q(spec.name)}, weights={weights})"]
    return [f"model = build_model()  # your model ({spec.name})"]


def _optimizer_line(kind: OptimizerKind, imports: list[str]) -> str:
    if kind is OptimizerKind.SGD:
        return "optimizer = torch.optim.SGD(params, lr=0.01)  # set your learning rate"
    if kind is OptimizerKind.SGD_MOMENTUM:
        return "optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9)  # set your learning rate"
    if kind is OptimizerKind.ADAM:
        return "optimizer = torch.optim.Adam(params, lr=1e-4)  # set your learning rate"
    if kind is OptimizerKind.ADAMW:
        return "optimizer = torch.optim.AdamW(params, lr=1e-4)  # set your learning rate"
    if kind is OptimizerKind.ADAFACTOR:
        imports.append("from transformers.optimization import Adafactor")
        return ("optimizer = Adafactor(params, lr=1e-3, scale_parameter=False, relative_step=False)"
                "  # set your learning rate")
    if kind is OptimizerKind.ADAM8BIT:
        imports.append("import bitsandbytes as bnb")
        return "optimizer = bnb.optim.AdamW8bit(params, lr=1e-4)  # set your learning rate"
    raise ValueError(f"no snippet for optimizer {kind}")


def _freeze_lines(globs: tuple[str, ...]) -> list[str]:
    if all(g.endswith(".") for g in globs):
        return [f"FROZEN = ({', '.join(_q(g) for g in globs)},)",
                "for name, p in model.named_parameters():",
                "    if name.startswith(FROZEN):",
                "        p.requires_grad_(False)"]
    # globs as gpuplan matches them (anywhere in the parameter name)
    return ["import fnmatch", "", f"FROZEN = ({', '.join(_q(g) for g in globs)},)",
            "for name, p in model.named_parameters():",
            "    if any(fnmatch.fnmatch(name, g) or fnmatch.fnmatch(name, f\"*{g}*\") for g in FROZEN):",
            "        p.requires_grad_(False)"]


def _lora_lines(w: Workload, spec: ModelSpec, imports: list[str]) -> list[str]:
    imports.append("from peft import LoraConfig, get_peft_model")
    rank = w.lora_rank or 8
    if w.lora_targets:
        targets = "[" + ", ".join(_q(t) for t in w.lora_targets) + "]"
        pre: list[str] = []
    elif spec.hf:
        targets, pre = '"all-linear"', []
    else:
        heads = tuple(sorted(_HEAD_NAMES))
        pre = [f"HEADS = ({', '.join(_q(h) for h in heads)})",
               "targets = [n for n, m in model.named_modules()",
               "           if isinstance(m, torch.nn.Linear) and n.rsplit(\".\", 1)[-1] not in HEADS]"]
        targets = "targets"
    return [*pre, f"model = get_peft_model(model, LoraConfig(r={rank}, lora_alpha={2 * rank}, "
                  f"target_modules={targets}))"]


def _batch_lines(spec: ModelSpec, w: Workload, amp: str | None, training: bool) -> tuple[list[str], str]:
    """Lines moving a batch to the device and the forward expression (loss for training)."""
    if spec.hf and (spec.loss == "model"):
        move = ["batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}"]
        fwd = "model(**batch).loss" if training else "model(**batch)"
        return move, fwd
    cast = ""
    if not training and w.precision in (Precision.FP16, Precision.BF16):
        cast = f", dtype=torch.{'float16' if w.precision is Precision.FP16 else 'bfloat16'}"
    move = ["x, y = batch", f"x, y = x.to(device, non_blocking=True{cast}), y.to(device, non_blocking=True)"]
    if training:
        loss = ("torch.nn.functional.cross_entropy(model(x), y)" if spec.loss == "cross-entropy"
                else "torch.nn.functional.mse_loss(model(x), y)" if spec.loss == "mse" else "model(x).float().mean()")
        return move, loss
    return move, "model(x)"


def snippet(w: Workload, *, finetune: bool = False, device: str = "cuda", model_code: str | None = None,
            data_code: str | None = None, workers: int | None = None, title: str | None = None,
            deepspeed_config: str | None = None) -> str:
    """PyTorch code running workload ``w`` (a plan's workload: batch = micro-batch, grad_accum, techniques).

    With ``deepspeed_config`` (the ds_config.json of a CPU-offload plan) the loop runs through DeepSpeed's
    engine, which does the accumulation, the precision and the CPU optimizer step as configured."""
    spec = resolve_model(w)
    training = w.mode is Mode.TRAIN
    imports = ["import torch"]
    body: list[str] = []
    model_lines = model_code.strip().splitlines() if model_code else _model_lines(w, spec, finetune, imports)
    body += model_lines
    amp_dtype = {Precision.AMP_FP16: "float16", Precision.AMP_BF16: "bfloat16"}.get(w.precision)
    if w.precision is Precision.TF32:
        body += ["torch.backends.cuda.matmul.allow_tf32 = True  # TF32 matmuls (Ampere+)",
                 "torch.backends.cudnn.allow_tf32 = True"]
    if not spec.hf and w.precision in (Precision.FP16, Precision.BF16) and model_code is None:
        body.append("model = model.half()" if w.precision is Precision.FP16 else "model = model.to(torch.bfloat16)")
    if w.freeze:
        body += ["", *_freeze_lines(w.freeze)]
    if training and w.checkpointing:
        if spec.hf and model_code is None:
            body += ["", "model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={\"use_reentrant\": False})"]
        else:
            imports.append("from torch.utils.checkpoint import checkpoint")
            body += _CHECKPOINT_HELPER.rstrip("\n").splitlines()
    if w.lora_rank:
        body.append("")
        if w.precision.is_weight_only_quant and spec.hf and model_code is None:
            imports.append("from peft import prepare_model_for_kbit_training")
            body.append(f"model = prepare_model_for_kbit_training(model, use_gradient_checkpointing="
                        f"{bool(w.checkpointing)})")
        body += _lora_lines(w, spec, imports)
    if not w.precision.is_weight_only_quant and deepspeed_config is None:
        body.append("model = model.to(device)")
    body.append("")
    data = (data_code.strip().splitlines() if data_code else [
        "dataset = ...  # your torch.utils.data.Dataset",
        f"loader = torch.utils.data.DataLoader(dataset, batch_size={w.batch}, shuffle={training}, "
        f"num_workers={workers if workers is not None else 4}, pin_memory=True, drop_last={training})"])
    body += data
    move, fwd = _batch_lines(spec, w, amp_dtype, training)
    ind = "        "
    if training and deepspeed_config is not None:
        imports += ["import json", "import deepspeed", "from deepspeed.ops.adam import DeepSpeedCPUAdam"]
        body += ["params = [p for p in model.parameters() if p.requires_grad]",
                 "optimizer = DeepSpeedCPUAdam(params, lr=1e-4"
                 + (", adamw_mode=True)" if w.optimizer is OptimizerKind.ADAMW else ", adamw_mode=False)")
                 + "  # the optimizer runs on the CPU; set your learning rate",
                 f"DS_CONFIG = json.loads(\"\"\"\n{deepspeed_config.strip()}\n\"\"\")",
                 "engine, optimizer, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, config=DS_CONFIG)",
                 "", "engine.train()", "for batch in loader:"]
        body += ["    " + m for m in move]
        body += [f"    loss = {fwd.replace('model(', 'engine(')}",
                 "    engine.backward(loss)  # DeepSpeed scales the loss for accumulation",
                 "    engine.step()  # steps the optimizer every gradient_accumulation_steps micro-batches"]
    elif training:
        body += ["params = [p for p in model.parameters() if p.requires_grad]", _optimizer_line(w.optimizer, imports)]
        if amp_dtype == "float16":
            body.append("scaler = torch.amp.GradScaler(device)  # loss scaling keeps fp16 gradients from underflowing")
        accum = w.grad_accum
        if accum > 1:
            body.append(f"ACCUM = {accum}  # micro-batches of {w.batch} per optimizer step: effective batch "
                        f"{w.batch * accum}")
            loss_expr, gate, upd = (f"{fwd} / ACCUM  # average over the micro-batches",
                                    ["    if (step + 1) % ACCUM == 0:"], ind)
        else:
            loss_expr, gate, upd = fwd, [], "    "
        # zero_grad as the plan traced it (set_to_none=False only when the workload keeps zeroed gradients)
        zero = f"optimizer.zero_grad(set_to_none={w.zero_grad_set_to_none})"
        body += ["", "model.train()", zero,
                 f"for {'step, batch in enumerate(loader)' if accum > 1 else 'batch in loader'}:"]
        body += ["    " + m for m in move]
        if amp_dtype:
            body += [f"    with torch.autocast(device_type=device, dtype=torch.{amp_dtype}):", f"{ind}loss = {loss_expr}"]
        else:
            body.append(f"    loss = {loss_expr}")
        if amp_dtype == "float16":
            body += ["    scaler.scale(loss).backward()", *gate, f"{upd}scaler.step(optimizer)", f"{upd}scaler.update()",
                     f"{upd}{zero}"]
        else:
            body += ["    loss.backward()", *gate, f"{upd}optimizer.step()", f"{upd}{zero}"]
    else:
        body += ["", "model.eval()", "with torch.inference_mode():", "    for batch in loader:"]
        body += [ind + m for m in move]
        body.append(f"{ind}out = {fwd}")
    head = [f"# {title}" if title else f"# gpuplan plan for {w.model}", f"# written for PyTorch >= {PYTORCH_MIN}"]
    if deepspeed_config is not None:
        head.append("# run: deepspeed --num_gpus 1 train.py")
    packages = {i.split()[1].split(".")[0] for i in imports}
    if w.precision.is_weight_only_quant or (w.optimizer is OptimizerKind.ADAM8BIT and training):
        packages.add("bitsandbytes")
    extra = sorted(packages & {"peft", "bitsandbytes", "transformers", "timm", "deepspeed"})
    if extra:
        head.append("# needs: pip install " + " ".join(extra))
    uniq: list[str] = []
    for i in imports:
        if i not in uniq:
            uniq.append(i)
    return "\n".join([*head, *uniq, "", f"device = {_q(device)}", *body]) + "\n"
