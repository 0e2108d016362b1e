"""A calibration set for GPTQ and AWQ in the export tests: short paragraphs of everyday
English prose, none of them the fixed text that perplexity is measured on (perplexity.py).

A calibrated method fits the model to the activations of what it is calibrated on; a
model as small as SmolLM2-135M, calibrated on code or legal text, models plain prose
worse than one rounded with no calibration at all. So the set is prose, as the text it
is measured on is.
"""

from __future__ import annotations

import json
from pathlib import Path

PARAGRAPHS = (
    "The market opens at dawn, when the first vans arrive with crates of apples, onions "
    "and bread still warm from the oven. By nine the square is full of people comparing "
    "prices, greeting neighbours and stopping for coffee at the stall by the fountain.",
    "Our train left the city in light rain and climbed slowly into the hills. Through the "
    "window we watched farms give way to forests, and a small lake appeared and vanished "
    "again behind the trees before the conductor came to check our tickets.",
    "My grandmother kept a notebook of recipes that she had collected over fifty years. "
    "Some were written in pencil on the backs of old letters, and many had notes in the "
    "margin saying which guests had liked them and which had asked for more salt.",
    "The library was quiet except for the turning of pages and the soft hum of the heating. "
    "Students sat at the long wooden tables with piles of books, and an old man by the "
    "window read the newspaper slowly, as if he had the whole day to spare.",
    "When the storm reached the coast, the harbour master ordered the boats to stay in "
    "port. Waves broke over the sea wall all night, and in the morning the beach was "
    "covered with seaweed, driftwood and the remains of a wooden fence.",
    "Learning to play the piano takes patience. At first the fingers feel clumsy and the "
    "music sounds broken, but after weeks of practice the hands begin to move on their "
    "own, and simple pieces start to sound like real songs.",
    "The village celebrated the harvest with a festival in the main street. Children ran "
    "between the tables, musicians played on a small stage, and everyone agreed that the "
    "pumpkins that year were the largest anyone could remember.",
    "A good walking boot should be comfortable from the first day, support the ankle, and "
    "keep water out without making the foot too warm. Most walkers try several pairs in "
    "the shop before choosing, and wear them around the house before a long trip.",
    "In the early years of the railway, journeys that had taken days by coach could be "
    "made in a few hours. Towns along the new lines grew quickly, while those that the "
    "tracks passed by often lost their trade and slowly became smaller.",
    "The garden behind the house was small, but every corner of it was used. Tomatoes grew "
    "against the south wall, herbs filled the old stone trough, and a pear tree gave "
    "shade to the bench where my father liked to sit in the evening.",
    "The museum's new exhibition tells the story of the city through everyday objects: a "
    "baker's scales, a child's shoes, a tram ticket from 1920. Visitors often say that "
    "these small things bring the past closer than any painting could.",
    "Every winter the birds return to the marsh in their thousands. Watchers arrive before "
    "sunrise with flasks of tea and binoculars, hoping to see the great flocks lift from "
    "the water all at once as the light spreads across the reeds.",
    "The hospital opened a new wing last spring, with brighter rooms and a garden where "
    "patients can sit outside. Nurses say that the change has made a difference, and that "
    "many patients now ask to spend their afternoons in the fresh air.",
    "Baking bread at home is simpler than it seems. Flour, water, salt and yeast are mixed "
    "and kneaded, then left to rise in a warm place. After shaping, the loaf rises once "
    "more before it goes into a hot oven for about forty minutes.",
    "The old bridge had stood for three hundred years, but the floods of that spring "
    "weakened its foundations. Engineers closed it to traffic, and for two years people "
    "crossed the river on a ferry while the stones were repaired one by one.",
    "At the edge of the forest there is a path that leads up to a ridge with a wide view "
    "of the valley. On clear days you can see the church towers of four villages and, "
    "far to the north, the first snow on the mountains.",
    "The school choir practised twice a week in the hall after lessons. Before the concert "
    "the teacher made them sing each song again and again, until even the youngest "
    "children knew every word and could come in at the right moment.",
    "Most of the town's workers once worked in the textile mills along the canal. When the "
    "mills closed, some of the buildings were turned into flats and offices, and the "
    "canal path became a popular place for cyclists and people walking their dogs.",
    "Travelling by bicycle lets you notice things that drivers miss: the smell of cut "
    "grass, the sound of a stream under the road, a hare running along the edge of a "
    "field. It is slower, but the journey becomes part of the pleasure.",
    "The family moved to the city when I was nine. Everything seemed enormous at first, "
    "the buildings, the crowds, the noise of the traffic, but within a year I knew every "
    "street between our flat and the school and could not imagine living anywhere else.",
    "The lighthouse keeper's life was lonely but regular. Each evening he climbed the "
    "stairs to light the lamp, wrote the weather in his log, and watched the ships pass "
    "far out at sea until the early hours of the morning.",
    "A small bookshop on the corner has survived for more than forty years. The owner "
    "knows most of her customers by name, remembers what they like to read, and often "
    "puts a book aside for someone before they even know they want it.",
    "Spring arrives slowly in the north. The snow retreats first from the southern "
    "slopes, then the rivers rise with meltwater, and one morning the birch trees are "
    "suddenly covered in small green leaves that were not there the day before.",
    "The football club was founded by workers from the local factory, who played on a "
    "field behind the gas works. Today its stadium holds twenty thousand people, but the "
    "supporters still sing the songs that their grandparents sang on the terraces.",
)


def write_calibration_set(path: Path) -> Path:
    """The paragraphs as a ``.jsonl`` file of ``{"text": ...}`` rows at ``path``."""
    path.write_text("".join(json.dumps({"text": text}) + "\n" for text in PARAGRAPHS))
    return path
