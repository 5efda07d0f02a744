"""Post-hoc logit calibration carried by the model: ``z' = z / T + b``.

``T`` is the temperature of temperature scaling (Guo et al., "On Calibration of Modern Neural
Networks", ICML'17, Sec. 4.2), fitted on validation logits; ``b`` is a per-class logit
adjustment, ``b = tau * (log pi_target - log pi_train)``, that moves the predictions to a
deployment population whose class prior ``pi_target`` differs from training (Menon et al.,
"Long-Tail Learning via Logit Adjustment", ICLR'21, Eq. 4 applied post hoc). Both are buffers,
so a saved and reloaded model predicts exactly the same. The identity (T = 1, b = 0) by default.
"""

import torch
import torch.nn as nn


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
                raise ValueError(f"logit bias of shape {tuple(bias.shape)} does not fit {self.bias.numel()} classes")
            self.bias.copy_(bias)

    @property
    def is_identity(self) -> bool:
        return float(self.temperature) == 1.0 and not bool(self.bias.any())

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        if self.is_identity:
            return logits
        return logits / self.temperature + self.bias.to(logits.dtype)
