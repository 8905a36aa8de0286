"""Tab 2, Model: pick a pre-trained model and a preset, adjust settings, see the plan and the time it may take."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from bertstudio.config import DEFAULT_PRESET, list_presets
from bertstudio.errors import ModelError
from bertstudio.jobs import TRAINING
from bertstudio.limits import UsageLimits
from bertstudio.models.download import DOWNLOAD, DownloadJob, local_status
from bertstudio.models.registry import DEFAULT_MODEL, VARIANTS, find_variant
from bertstudio.models.sources import availability, resolve_model_source
from bertstudio.train import plan as train_plan
from bertstudio.train.estimate import detected_hardware, plan_run
from bertstudio.train.scale_out import Machines, write_scale_out
from bertstudio.ui.common import friendly, require_workspace
from bertstudio.ui.context import AppContext
from bertstudio.ui.session import RememberedChoice, recall_model_choice, remember_model_choice
from bertstudio.ui.state import DataSelection, ModelChoice, SettingsRequest, build_config, require_data
from bertstudio.ui.views import advice as views_advice
from bertstudio.ui.views import limits as limit_views
from bertstudio.ui.views import settings, tables
from bertstudio.ui.views.downloads import download_view, plan_line, with_plan_line
from bertstudio.ui.views.models import describe_variant, language_note
from bertstudio.ui.views.scale_out import scale_out_markdown

INTRO = """### Step 2: the model
A pre-trained model already understands language; training teaches it your classes.
The defaults work well: **MiniLM** is bundled, small and fast. Bigger models can be a few points more
accurate but train several times slower and need a one-time download."""


def model_card(model: str) -> str:
    """The registry's description, or what is known about a folder or Hugging Face id."""
    variant = find_variant(model)
    if variant is not None:
        return describe_variant(variant.key)
    source = resolve_model_source(model)
    where = {"local": "a model folder on this computer",
             "cached": "already downloaded", "download": "needs a one-time download (internet required)"}
    return f"**{source.display_name}**\n\n- Source: {where.get(availability(source), source.kind)}"


def chosen_model(limits: UsageLimits, listed: str | None, typed: str | None) -> str:
    """The model the person chose: one typed into the box, else the listed one. Refused when the limits do not
    allow it, before its folder or id is read (on a shared app the box is hidden, but the page's API is not)."""
    model = (typed or "").strip() or listed or DEFAULT_MODEL
    limits.check_model(model)
    return model


def variant_rows() -> list[tables.VariantRow]:
    rows = []
    for key, variant in VARIANTS.items():
        try:
            where = availability(key)
        except ModelError:
            where = "unavailable"
        rows.append(tables.VariantRow(variant.display_name, variant.params_millions, variant.layers, variant.speed,
                                      where))
    return rows


def preset_markdown(preset: str, selection: DataSelection | None, saved: Path | None = None) -> str:
    """``saved``: the folder of the person's saved presets (``Workspace.presets``)."""
    chosen = list_presets(workspace=saved)[preset]
    lines = [f"**{chosen.title}.** {chosen.use_when}"]
    if selection is not None:
        tip = train_plan.recommend_preset(selection.rows, selection.class_counts)
        mark = "This is the recommended preset for your data:" if tip.preset == preset else \
            f"Recommended for your data: **{tip.title}**:"
        lines.append(f"{mark} {tip.reason}")
    return "\n\n".join(lines)


def plan_text(selection: DataSelection | None, choice: ModelChoice, training_now: bool,
              measure: bool = True) -> tuple[str, str]:
    """(plan with time estimate, the automatic settings with their reasons); ``measure=False`` skips the estimate."""

    if selection is None:
        return "Load your data in the Data tab to see the training plan and how long it may take.", ""
    if selection.has_errors:
        return f"Training cannot start until the data problems are fixed: {selection.errors_text}", ""
    config = build_config(selection, choice)
    hardware, device_name = detected_hardware(config.device)
    planned = plan_run(config, selection.rows, selection.class_counts, selection.lengths, selection.max_length,
                       hardware)
    plan = planned.plan
    if training_now or not measure:
        note = ("A training run is going on right now, so the time estimate waits until the computer is free."
                if training_now else "Measuring how fast this computer runs the model…")
        return views_advice.plan_markdown(plan, None, device_name, note=note), views_advice.decisions_markdown(plan.decisions)
    try:
        probe, estimate = planned.estimate(hardware)
    except ModelError as err:
        return views_advice.plan_markdown(plan, None, device_name, note=f"No time estimate: {err}"), \
            views_advice.decisions_markdown(plan.decisions)
    return (views_advice.plan_markdown(plan, estimate, device_name, planned.step_seconds(probe)),
            views_advice.decisions_markdown(plan.decisions))


def _widget(spec: settings.FieldSpec, value: Any):
    shown = settings.to_widget(spec, value)
    common = {"label": spec.label, "info": spec.help, "elem_id": f"setting-{spec.name}"}
    if spec.kind in ("choice", "tristate"):
        return gr.Dropdown(choices=list(spec.choices), value=shown, **common)
    if spec.kind == "checkbox":
        return gr.Checkbox(value=shown, **common)
    return gr.Number(value=shown, precision=0 if spec.kind == "int" else None, minimum=spec.minimum,
                     maximum=spec.maximum, placeholder="auto" if spec.optional else None, **common)


def build(ctx: AppContext) -> None:
    specs = settings.advanced_specs()
    start_values, _ = settings.preset_settings(DEFAULT_PRESET)
    with gr.Tab("2. Model", id="model") as tab:
        gr.Markdown(INTRO)
        gr.Markdown(limit_views.model_note(ctx.limits), elem_id="model-limits")
        with gr.Row():
            with gr.Column(scale=2):
                model_radio = gr.Radio(choices=[(v.display_name, key) for key, v in VARIANTS.items()
                                                if limit_views.model_allowed(ctx.limits, key)],
                                       value=DEFAULT_MODEL, label="Pre-trained model", elem_id="model-choice")
                custom = gr.Textbox(label="Or another model: a folder on this computer or a Hugging Face id",
                                    placeholder="/path/to/model-folder  or  organisation/model-name",
                                    info="Press Enter to use it; clear the box to go back to the list above.",
                                    elem_id="custom-model", visible=ctx.limits.own_models_allowed)
            with gr.Column(scale=3):
                card = gr.Markdown(model_card(DEFAULT_MODEL), elem_id="model-card")
                language_md = gr.Markdown(elem_id="model-language")
                with gr.Group(visible=False, elem_id="get-model-panel") as get_panel:
                    get_md = gr.Markdown(elem_id="get-model-status", padding=True)
                    get_bar = gr.HTML("", elem_id="get-model-bar")
                    with gr.Row():
                        get_button = gr.Button("Get this model", variant="primary", elem_id="get-model")
                        get_stop = gr.Button("Stop", elem_id="get-model-stop", visible=False)
                get_timer = gr.Timer(0.5, active=False)
                with gr.Accordion("Compare all models", open=False):
                    compare = gr.Dataframe(interactive=False, wrap=True)
        preset_radio = gr.Radio(choices=settings.preset_choices(), value=DEFAULT_PRESET,
                                label="Preset: a starting point for the settings", elem_id="preset-choice")
        preset_md = gr.Markdown(preset_markdown(DEFAULT_PRESET, None))
        preset_note = gr.Markdown(elem_id="preset-switch-note")  # a new file's preset switch, and what it kept
        with gr.Accordion("Advanced settings (optional: the defaults are chosen from your data)", open=False,
                          elem_id="advanced-settings"):
            widgets = []
            for start in range(0, len(specs), 3):
                with gr.Row():
                    widgets += [_widget(spec, start_values[spec.name]) for spec in specs[start:start + 3]]
        with gr.Group():
            plan_md = gr.Markdown("Load your data in the Data tab to see the training plan.", elem_id="plan",
                                  padding=True)
            decisions_md = gr.Markdown(padding=True)
        with gr.Accordion("Train on a bigger machine", open=False, elem_id="bigger-machine"):
            gr.Markdown("These settings as a file, plus the one command that trains them on GPUs or several "
                        "machines.")
            with gr.Row():
                n_machines = gr.Number(1, label="Machines", minimum=1, maximum=64, precision=0)
                n_gpus = gr.Number(1, label="GPUs per machine", minimum=1, maximum=16, precision=0)
                write_files = gr.Button("Write the files", elem_id="write-scale-out")
            scale_files = gr.File(label="Settings and accelerate config", file_count="multiple", interactive=False)
            scale_md = gr.Markdown(elem_id="scale-out-command")

        def shown_choice(workspace, model_key: str, custom_model: str, preset: str, *shown: Any) -> dict:
            model = chosen_model(ctx.limits, model_key, custom_model)
            card_text = model_card(model)  # raises a readable ModelError for a wrong folder or id
            # The saved presets' folder only with a saved preset: a built-in one leaves the choice exactly as it was,
            # so loading a file does not change it a second time (each change starts a plan and a time estimate,
            # and the estimate of the second was dropped while the first's was measured: "Measuring…" stayed).
            saved = workspace is not None and preset not in list_presets()
            choice = ModelChoice(model=model, preset=preset,
                                 settings=settings.settings_from_widgets(specs, list(shown)),
                                 saved_presets=str(workspace.presets) if saved else None)
            return {ctx.model_choice: choice, ctx.model: model, card: card_text}

        @friendly
        def collect(workspace, data_file: str, *shown: Any) -> dict:
            """The choice as shown, sent to the other tabs and kept in the workspace for a reloaded page."""
            chosen = shown_choice(workspace, *shown)
            if workspace is not None:
                remember_model_choice(workspace, chosen[ctx.model_choice], data_file)
            return chosen

        def saved_folder(workspace) -> Path | None:
            return workspace.presets if workspace is not None else None

        def preset_list(workspace, preset: str) -> gr.Radio:
            """The presets as the engine lists them, the person's saved ones included (saved in the Runs tab,
            in this session or before the app restarted)."""
            return gr.Radio(choices=settings.preset_choices(saved_folder(workspace)), value=preset)

        def show_widgets(values: dict[str, Any]) -> dict:
            return {widget: settings.to_widget(spec, values.get(spec.name)) for widget, spec in zip(widgets, specs)}

        def apply_preset(preset: str, selection: DataSelection | None, workspace=None) -> dict:
            saved = saved_folder(workspace)
            values, model = settings.preset_settings(preset, saved)
            shown = {preset_radio: preset_list(workspace, preset), preset_md: preset_markdown(preset, selection, saved),
                     preset_note: "", **show_widgets(values)}
            if model:  # the preset comes with its own model (a saved one may name a folder or a Hub id)
                listed = model in VARIANTS
                shown.update({model_radio: model if listed else DEFAULT_MODEL, custom: "" if listed else model})
            return shown

        @friendly
        def on_preset(preset: str, selection: DataSelection | None, workspace) -> dict:
            return apply_preset(preset, selection, workspace)

        @friendly
        def on_presets_shown(workspace, current: str | None) -> dict:
            """The Model tab opened: the preset list again, with what was saved meanwhile."""
            names = {name for _, name in settings.preset_choices(saved_folder(workspace))}
            return {preset_radio: preset_list(workspace, current if current in names else DEFAULT_PRESET)}

        def show_settings(model: str, preset: str, values: dict[str, Any], selection: DataSelection | None,
                          workspace) -> dict:
            """Show a whole choice (model, preset, every setting): a run's, saved settings, or the remembered one."""
            known = list_presets(workspace=saved_folder(workspace))
            shown = apply_preset(preset if preset in known else DEFAULT_PRESET, selection, workspace)
            shown.update(show_widgets(values))
            listed = model in VARIANTS
            shown.update({model_radio: model if listed else DEFAULT_MODEL, custom: "" if listed else model})
            return shown

        def show_remembered(remembered: RememberedChoice, selection: DataSelection | None, workspace) -> dict:
            return show_settings(remembered.model, remembered.preset, remembered.settings, selection, workspace)

        @friendly
        def on_page_load(workspace) -> dict:
            """The choice this workspace made last (a reloaded page), else the default preset's settings."""
            remembered = recall_model_choice(workspace) if workspace is not None else None
            if remembered is not None:
                return show_remembered(remembered, None, workspace)
            return apply_preset(DEFAULT_PRESET, None, workspace)

        @friendly
        def on_new_file(selection: DataSelection | None, current: str, workspace, data_file: str, *shown: Any) -> dict:
            """A new file: select the preset recommended for it, keeping the settings the person set themselves
            (settings untouched if it is already selected), and say so.
            The file the page had before a reload comes back with the choice made for it, not the recommendation:
            both arrive on page load, in no fixed order, and must agree."""
            remembered = recall_model_choice(workspace) if workspace is not None else None
            if remembered is not None and remembered.made_for(data_file):
                return show_remembered(remembered, selection, workspace)
            preset = None if selection is None else train_plan.preset_for_new_file(selection.rows, selection.class_counts,
                                                                                current)
            if preset is None:
                return {preset_md: preset_markdown(current, selection, saved_folder(workspace)), preset_note: ""}
            switch = settings.switch_preset(specs, shown, current, preset, saved_folder(workspace))
            note = settings.switch_note(switch, specs)
            gr.Info(note, title="Model tab")  # the person is in the Data tab: the switch is not silent
            return {**apply_preset(preset, selection, workspace), **show_widgets(switch.values), preset_note: note}

        def shown_plan(selection: DataSelection | None, choice: ModelChoice, measure: bool) -> dict:
            plan, decisions = plan_text(selection, choice, training_now=ctx.jobs.running(TRAINING) is not None,
                                        measure=measure)
            if selection is not None:
                try:
                    plan += "\n\n" + plan_line(local_status(choice.model))
                except ModelError:
                    pass  # a wrong folder or id: the card already says what is wrong
            return {plan_md: plan, decisions_md: decisions}

        # --- Get this model: a registry or Hub model that is not on this computer yet (models/download.py)
        def download_job(workspace, model: str) -> DownloadJob | None:
            job = ctx.jobs.latest(workspace.id, DOWNLOAD) if workspace is not None else None
            return job if isinstance(job, DownloadJob) and job.model == model else None

        def show_download(workspace, model: str | None, plan: str | None = None) -> dict:
            try:
                status = local_status(model or DEFAULT_MODEL)
            except ModelError:
                return {get_panel: gr.Group(visible=False), get_timer: gr.Timer(active=False)}
            job = download_job(workspace, model or DEFAULT_MODEL)
            view = download_view(status, job.history if job is not None else [])
            shown = {get_panel: gr.Group(visible=view.visible), get_md: view.text, get_bar: view.bar,
                     get_button: gr.Button(interactive=not view.running),
                     get_stop: gr.Button(visible=view.running), get_timer: gr.Timer(active=view.running)}
            if plan is not None and job is not None and job.claim_outcome():  # it just ended: the plan's line too
                shown[plan_md] = with_plan_line(plan, status)
            return shown

        @friendly
        def on_get(workspace, model: str | None) -> dict:
            ws = require_workspace(workspace)
            ctx.jobs.start(ws.id, DownloadJob(model or DEFAULT_MODEL))
            return show_download(ws, model)

        def on_get_stop(workspace) -> None:
            if workspace is not None:
                ctx.jobs.stop(workspace.id, DOWNLOAD)

        # What the newest plan request of each browser session asked for. A measured estimate takes seconds (the
        # first one on a fresh app also imports torch), and the estimates of one session run one after the other:
        # without this, the estimate of a preset the person had already left arrived after the new preset's plan
        # and replaced it (a fresh app showed Balanced's plan for 40-90 s after "Head only" was chosen). The
        # estimate is compared by what it was asked for, not by a request number: the same change often fires
        # twice (the data and the choice), and the measured plan must not be dropped for its own twin.
        newest_plan: dict[str, str] = {}

        def _asked(selection: DataSelection | None, choice: ModelChoice) -> str:
            data = None if selection is None else (selection.path, selection.text_column, selection.label_column,
                                                   selection.text_pair_column, selection.max_length, selection.rows)
            return repr((data, choice))

        def _is_newest(request: gr.Request | None, asked: str) -> bool:
            return request is None or newest_plan.get(request.session_hash, asked) == asked

        @friendly
        def on_plan(selection: DataSelection | None, choice: ModelChoice, request: gr.Request = None) -> dict:
            # An empty dict is not "no change" to Gradio 6.31 (it fails: "didn't return enough output values").
            unchanged = {plan_md: gr.skip(), decisions_md: gr.skip()}
            asked = _asked(selection, choice)
            if not _is_newest(request, asked):
                return unchanged  # a newer choice was made meanwhile: its own estimate follows
            shown = shown_plan(selection, choice, measure=True)
            return shown if _is_newest(request, asked) else unchanged

        @friendly
        def on_plan_first(selection: DataSelection | None, choice: ModelChoice, request: gr.Request = None) -> dict:
            """The plan at once; the measured time estimate follows (it takes a few seconds)."""
            shown = shown_plan(selection, choice, measure=False)
            if request is not None:
                newest_plan[request.session_hash] = _asked(selection, choice)
            return shown

        @friendly
        def on_request(request: SettingsRequest | None, selection: DataSelection | None, workspace) -> dict:
            """Settings sent by the Runs tab (a run's, or saved ones): shown here, so training uses them."""
            if request is None:
                return {custom: gr.skip()}  # not {}: Gradio 6.31 reads an empty dict as missing outputs
            shown = show_settings(request.model, request.preset, request.settings, selection, workspace)
            gr.Info(f"The Model tab now shows the settings of {request.source}.")
            return shown

        @friendly
        def on_write_files(workspace, selection: DataSelection | None, choice: ModelChoice, machines: float,
                           gpus: float) -> dict:
            cfg = build_config(require_data(selection), choice)
            where = Machines(machines=int(machines or 1), gpus_per_machine=int(gpus or 1))
            files = write_scale_out(cfg, require_workspace(workspace).root / "bigger-machine", where)
            return {scale_files: [str(files.settings), str(files.accelerate_config)],
                    scale_md: scale_out_markdown(files, where)}

        collect_io = dict(fn=collect,
                          inputs=[ctx.workspace, ctx.data_file, model_radio, custom, preset_radio, *widgets],
                          outputs=[ctx.model_choice, ctx.model, card])
        preset_outputs = [preset_radio, preset_md, preset_note, model_radio, custom, *widgets]

        # Number boxes count when the person is done typing (Enter or leaving the box): half-typed values
        # such as "0" on the way to "0.0002" would only produce error messages.
        edits = [trigger for w in widgets
                 for trigger in ((w.submit, w.blur) if isinstance(w, gr.Number) else (w.input,))]
        gr.on([custom.submit, *edits], **collect_io, trigger_mode="always_last")
        model_radio.input(lambda: "", None, custom).then(**collect_io)  # a listed model replaces a typed one
        preset_radio.input(on_preset, [preset_radio, ctx.data, ctx.workspace], preset_outputs).then(**collect_io)
        tab.select(on_presets_shown, [ctx.workspace, preset_radio], preset_radio)
        if ctx.settings_request is not None:
            ctx.settings_request.change(on_request, [ctx.settings_request, ctx.data, ctx.workspace],
                                        preset_outputs).then(
                **collect_io)
        ctx.data_file.change(on_new_file, [ctx.data, preset_radio, ctx.workspace, ctx.data_file, *widgets],
                             preset_outputs).then(**collect_io)
        ctx.data.change(friendly(lambda s, p, ws: preset_markdown(p, s, saved_folder(ws))),
                        [ctx.data, preset_radio, ctx.workspace], preset_md)
        gr.on([ctx.data.change, ctx.model_choice.change], on_plan_first, [ctx.data, ctx.model_choice],
              [plan_md, decisions_md], trigger_mode="always_last").then(
            on_plan, [ctx.data, ctx.model_choice], [plan_md, decisions_md], show_progress="hidden")
        # Whether the chosen model reads the data's language (the Data tab measured it with the model's tokenizer).
        gr.on([ctx.data.change, ctx.model.change],
              friendly(lambda s, m: language_note(m, s.vocabulary if s is not None else None)),
              [ctx.data, ctx.model], language_md, show_progress="hidden")
        download_outputs = [get_panel, get_md, get_bar, get_button, get_stop, get_timer]
        ctx.model.change(show_download, [ctx.workspace, ctx.model], download_outputs)
        get_button.click(on_get, [ctx.workspace, ctx.model], download_outputs)
        get_stop.click(on_get_stop, ctx.workspace, None)
        get_timer.tick(show_download, [ctx.workspace, ctx.model, plan_md], [*download_outputs, plan_md],
                       show_progress="hidden")
        ctx.session_loaded.then(show_download, [ctx.workspace, ctx.model], download_outputs)
        write_files.click(on_write_files, [ctx.workspace, ctx.data, ctx.model_choice, n_machines, n_gpus],
                          [scale_files, scale_md])
        ctx.session_loaded.then(lambda: tables.variants_table(variant_rows()), None, compare)
        # Number boxes built with no value ("auto") hold 0 in the browser until the app sends them a value
        # (seen in Gradio 6.31): a setting edited before any file was loaded then sent 0 for every "auto"
        # box and failed ("Value 0 is less than minimum value 1"). Sending the start values on page load
        # makes the boxes hold what they show.
        # The saved presets are listed from the start too: after a restart of the app they are still there.
        # A reloaded page shows the choice the person left (model, preset, typed settings), and sends it on.
        # Not kept again from here: the page's data file may not be back yet, and the choice would lose its file.
        ctx.session_loaded.then(on_page_load, ctx.workspace, preset_outputs).then(
            friendly(shown_choice), [ctx.workspace, *collect_io["inputs"][2:]], collect_io["outputs"])
