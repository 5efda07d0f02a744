"""Post-hoc logit calibration carried by the model: ``z' = z / T + b``, the one composition
ltzoo deploys.

``T`` is the temperature of temperature scaling (Guo et al., "On Calibration of Modern Neural
Networks", ICML'17, Sec. 4.2), fitted first, on the raw validation logits (the validation split
follows the training prior); ``b`` is a per-class logit adjustment added after it,
``b = s * (log pi_target - log pi_train)``, that moves the calibrated log-posterior to a
deployment population with class prior ``pi_target`` (Menon et al., "Long-Tail Learning via Logit
Adjustment", ICLR'21, Eq. 4 applied post hoc; ``s = 1`` is Bayes' rule for a prior shift).
``ltzoo calibrate`` and ``ltzoo tune --posthoc`` both fit ``T`` this way and search or set ``s``
on top, so the same words give the same deployed model. Both are buffers, so a saved and
reloaded model predicts exactly the same. The identity (T = 1, b = 0) by default.

``forward`` is pure tensor arithmetic: no value is read back to the host, so it costs no device
sync and compiles into one graph (``torch.compile(fullgraph=True)``).
"""

import torch
import torch.nn as nn


def calibrated(logits: torch.Tensor, temperature, bias) -> torch.Tensor:
    """``logits / temperature + bias``: the deployed calibration (temperature first, then the prior)."""
    return logits / temperature + bias


class LogitCalibration(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.register_buffer("temperature", torch.ones(()))
        self.register_buffer("bias", torch.zeros(num_classes))

    def set(self, temperature: float = None, bias: torch.Tensor = None) -> None:
        if temperature is not None:
            if not temperature > 0:
                raise ValueError(f"temperature={temperature} is not allowed; it must be > 0")
            self.temperature.fill_(float(temperature))
        if bias is not None:
            bias = torch.as_tensor(bias, dtype=self.bias.dtype)
            if bias.shape != self.bias.shape:
                raise ValueError(
                    f"logit bias of shape {tuple(bias.shape)} does not fit {self.bias.numel()} classes"
                )
            self.bias.copy_(bias)

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return calibrated(logits, self.temperature.to(logits.dtype), self.bias.to(logits.dtype))
