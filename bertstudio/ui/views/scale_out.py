"""What the "Train on a bigger machine" section says once the files are written (pure: tested without a browser)."""

from __future__ import annotations

from bertstudio.train.scale_out import Machines, ScaleOutFiles


def scale_out_markdown(files: ScaleOutFiles, machines: Machines) -> str:
    where = (f"{machines.machines} machines with {machines.gpus_per_machine} GPUs each" if machines.machines > 1
             else f"one machine with {machines.gpus_per_machine} GPU{'s' if machines.gpus_per_machine > 1 else ''}")
    steps = [f"For {where} ({machines.processes} training process{'es' if machines.processes > 1 else ''}): download both files, put them in one "
             f"folder with your data file (`{files.settings.name}` names it), install BERT Studio there, and run:",
             f"```\n{files.command}\n```"]
    if machines.machines > 1:
        steps.append("Run it on every machine, with THIS_MACHINE_RANK 0 on the first and 1, 2, ... on the others; "
                     f"in `{files.accelerate_config.name}` replace MAIN_MACHINE_IP with the first machine's address.")
    steps.append("The batch size is per GPU, so each update sees that many texts from every GPU. A model folder "
                 "on this computer must be copied too (a listed model downloads itself). See docs/SCALE.md.")
    return "\n\n".join(steps)
