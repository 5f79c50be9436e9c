"""Known-answer synthetic micro-expression clips, written in the native layouts of CASME II, SAMM and SMIC (the
default set) and, when named, of CAS(ME)³ parts A and C, 4DME and MMEW.

``generate(root, layout, seed, **params)`` writes ``<root>/<layout>/`` exactly as the release lays it out,
so the release's own loader reads it:

- ``casme2``: ``CASME2_RAW_selected/sub01/EP02_01f/img46.jpg`` (absolute frame numbers) and
  ``CASME2-coding-20140508.xlsx`` (Subject, Filename, blank, OnsetFrame, ApexFrame, OffsetFrame, blank,
  Action Units, Estimated Emotion, Objective Classes 1-7).
- ``samm``: ``SAMM/006/006_1_2/006_05562.jpg`` (grey JPEG, like the release's grey camera) and
  ``SAMM_Micro_FACS_Codes_v2.xlsx``, sheet MICRO_ONLY, header in the first row (Subject, Filename,
  Inducement Code, Onset Frame, Apex Frame, Offset Frame, Duration, Micro, Action Units, Estimated Emotion,
  Objective Classes, Notes).
- ``smic``: ``SMIC_all_raw/HS/s1/micro/negative/s1_ne_01/image000123.bmp``; the label is the folder name,
  nothing else is annotated.
- ``casme3a``: whole recordings ``part_A/data/part_A_split/part_A/spNO.1/a/color/0.jpg`` (numbered from 0;
  two clips a recording, rendered one after the other) and
  ``part_A/annotation/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx``, sheet ``label`` (Subject, Filename (the
  recording), Onset, Apex, Offset (jpg indices), AU (comma-separated), Objective class, emotion (happy, sad, ...)):
  the loader cuts each clip out of its recording and names it ``<recording>_<onset>``.
- ``casme3c``: ``ME_C/01/1/color/<N>.jpg`` and ``CAS(ME)3_part_C_ME.xlsx`` (sub, count, onset, offset, au,
  emotion): no apex column, as in the release, so the loader's apex is the middle frame (``apex_estimated``)
  while ``ground_truth.csv`` keeps the rendered one.
- ``4dme``: grey ``gray_micro/S01/S01_001/<N>.jpg`` and ``4DME_Labelling_Micro_release v1.xlsx`` (sub_ID,
  fold_name, Onset, Apex, Offset, AUs written ``AU4+AU7``, Emotion (Positive, Negative, Surprise, Repression,
  Others; class III is Repression), then one 0/1 column per emotion).
- ``mmew``: ``Micro_Expression/<emotion>/S01-05-001/<N>.jpg`` and ``MMEW_Micro_Exp.xlsx`` (Subject, Filename,
  OnsetFrame, ApexFrame, OffsetFrame, Action Units, Estimated Emotion, remarks).

The default set (:func:`generate_default`, ``melib data synth``, the study) holds casme2, samm and smic
(:data:`DEFAULT_LAYOUTS`); ``generate_default(layouts=...)`` / ``melib data synth --layouts ...`` writes a set of
any of :data:`LAYOUTS`, and ``melib.datasets.load("synth", root)`` reads every layout folder present.

Beside them, in ``<root>/<layout>/``: ``ground_truth.csv`` (one row per clip: subject and clip as the
release names them, ``folder`` relative to the layout root, first/last frame number, onset, apex, offset,
``aus``, ``objective_class`` I-VII, ``emotion`` (PSN Table 2 word), ``native_emotion`` (the word the
release would write), ``fps``, ``amplitude`` (pixels the landmarks move at apex), ``frame_ext``) and
``ground_truth.npz`` with, per clip, ``"<subject>/<clip>/landmarks"`` (T, 68, 2) float32 (x, y) of every
frame, ``.../intensity`` (T,) the expression's onset-apex-offset profile (0..1) and ``.../pose`` (T, 2, 3)
the head-jitter similarity applied to each frame. :func:`read_ground_truth` reads both. The face stage can
take a clip's landmarks from there instead of from dlib (``MELIB_LANDMARKS=ground_truth``,
:func:`melib.preprocess.face.ground_truth_landmarks`).

How a clip is made. One public-domain face photograph (``skimage.data.astronaut()``, NASA), whose 68 landmarks
dlib placed once (kept as :data:`SOURCE_LANDMARKS`: generating needs no dlib). Each subject is that photo,
possibly mirrored, placed by a similarity transform in a larger frame (the photo's own flag, shuttle and suit
are the background), reshaped by a landmark-driven thin-plate-spline morph (eye spacing and size, brow height,
nose length and width, mouth width and height, jaw width, chin length), recoloured inside a soft skin mask and
lit by a per-subject gain, colour temperature and light gradient, plus a per-layout look. Each clip gets an AU
set from PSN Table 2 (``melib.labels.OBJECTIVE_AU_COMBOS``; class VII from :data:`OTHER_AU_COMBOS`, AUs that
appear in no Table 2 combination); every AU moves named landmarks (and two cheek points) in the face's own
axes (:data:`AU_MOTION`); the displacements of the AU set are scaled so that the largest landmark displacement
is ``amplitude * strength`` pixels at apex (``strength`` ~ U(0.75, 1) per clip), and a thin-plate spline
through them and through still anchors (the other landmarks, forehead, a ring around the face, the frame
border) gives a dense field. Frame t is the subject image warped by ``intensity(t) * field`` (inverted by
fixed-point iteration) and by a head-jitter similarity in one ``cv2.remap``, times an illumination flicker
gain, plus Gaussian sensor noise.
The ground-truth landmarks are the subject's landmarks moved by the same field and jitter.

Chance-level control: the label of a clip comes from its own random stream (``label_seed``, default
``seed``) and every nuisance (subject, timing, strength, jitter, flicker, noise, file names except SMIC's
label folders and MMEW's emotion folders) from streams that never see the label. At ``amplitude=0`` the pixels do not depend on the
label at all: ``generate(..., amplitude=0, label_seed=a)`` and ``label_seed=b`` write identical frames.

Default sizes (choices, not the releases'): 320x240 frames with a face 128 px wide, jaw to jaw (the
releases: 640x480, face ~ 280 px); 5 subjects per layout; CASME II and SAMM 14 clips per subject, two of
each class I-VII (70 clips each, 10 per class); SMIC 9 clips per subject, three each of positive, surprise
and negative (negative cycles over III-VI; 45 clips). Clips are 30-44 frames (SMIC 20-30) at 100 fps (SMIC
50 fps): half the releases' 200 (100) fps, so that a 0.3-0.4 s expression fits the frame budget. The layouts
written by name run at their releases' rates: CAS(ME)³ 10-15 frames at 30 fps, 4DME 18-28 at 60, MMEW 30-44 at 90;
14 clips a subject, two of each class. The clip
holds 0-2 neutral frames before onset (SMIC 1-4) and 0-2 after offset; apex at 30-55 % of onset..offset.
Amplitude 3 px, noise sd 2 grey levels, jitter sd 0.3 px, flicker 1 %. Each layout folder also holds
``synth_params.json`` (its resolved parameters, ``fps`` included) and ``synth_files.json`` (every file it
wrote, with its size); the default set's root holds a ``synth_params.json`` for all.

Subject-label dependence (``subject_label_dependence`` d in [0, 1], default 0). In the releases some subjects
show mostly one class. At d > 0 a random fraction d of a layout's clips has its labels sorted by class and put
back in subject order (:func:`~melib.synth.spec.labels`): subjects then show mostly one or two classes, and
each class keeps its count. Subjects already look different (mirror, morph, skin tone, light), so a classifier
can learn "subject -> label" from appearance alone: at ``amplitude=0`` a sample-level k-fold scores above chance
while leave-one-subject-out stays at or below it (``tests/test_synth_knobs.py`` measures both).
:func:`label_dependence` gives it as Cramer's V between subject and label: on the default set 0 at d = 0
and about 0.85 at d = 1 (release-full: 0.1-0.2 and 0.96); one draw at a small d is noisy.
At d = 0 the mixing stream is not drawn, so the set's bytes are those of a set made without the knob.

Presets (:data:`PRESETS`; ``generate_default(root, preset=...)``, ``melib data synth --preset``):
``release`` gives each layout its release's frame size, frame rate, face width and clip lengths
(:data:`~melib.synth.spec.RELEASES`, with the papers they come from: CASME II and SMIC-HS 640x480, SAMM
960x650; 200, 200 and 100 fps); ``release-full`` also its subject and clip counts (CASME II 26 / 255,
SAMM 29 / 159, SMIC-HS 16 / 164; the layouts written by name as their manifests give them, frame sizes
unconfirmed). Measured on 2 shared cores (``benches/bench_synth.py``): a release-scale
clip takes 0.4-3.5 s of one core (15-45 ms a frame: SMIC 0.4 s, CASME II 2 s, SAMM 3.4 s), so ``release-full``
takes 20-25 min of one core; ``n_jobs`` threads (default: every core) render clips side by side, and the
bytes do not depend on their number. The source face is 93 px wide, so release-scale faces (190-400 px)
are upsampled and softer than the releases'.

On disk (:mod:`~melib.synth.store`): a folder that melib did not write, or a set holding files melib did not
write, is refused, never deleted; :func:`verify` lists what is missing or changed; a damaged set is reported
(:class:`SynthWarning`) and rebuilt; sets are swapped in atomically; temporary folders of an interrupted
writer are removed and reported on the next call.
"""
from __future__ import annotations

from .build import default_params, generate, generate_default
from .faces import SOURCE_LANDMARKS, Subject, make_subject, source_face
from .layouts import read_ground_truth
from .motion import AU_MOTION, Nuisance, au_displacements, draw_nuisance, intensity_profile, render_clip, timing
from .spec import (CLASSES, DEFAULT_LAYOUTS, DEFAULTS, LAYOUTS, NATIVE_EMOTION, OPTIONAL, OTHER_AU_COMBOS, PRESETS,
                   RELEASES, VERSION, label_dependence)
from .store import MANIFEST_FILE, PARAMS_FILE, SynthWarning, verify

__all__ = ["generate", "generate_default", "default_params", "read_ground_truth", "verify", "label_dependence",
           "make_subject", "render_clip", "draw_nuisance", "au_displacements", "intensity_profile", "timing",
           "source_face", "Subject", "Nuisance", "SynthWarning", "AU_MOTION", "CLASSES", "DEFAULTS", "OPTIONAL",
           "LAYOUTS", "DEFAULT_LAYOUTS", "NATIVE_EMOTION", "OTHER_AU_COMBOS", "PRESETS", "RELEASES",
           "SOURCE_LANDMARKS", "PARAMS_FILE", "MANIFEST_FILE", "VERSION"]
