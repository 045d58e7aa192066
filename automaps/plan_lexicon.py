"""Word lists of the rule-based planner's grammar: closed classes, verb classes and semantic fields.

Closed classes (determiners, pronouns, prepositions) are complete for instruction English; open classes
(adjectives, places, garments, styles) are common words, written by hand, with suffix rules in
`automaps.plan_grammar.is_adjective` for the rest. Lower-case throughout; lookups lower-case the token.
"""

from __future__ import annotations


def _w(text: str) -> frozenset[str]:
    return frozenset(text.split())


# --- closed classes -------------------------------------------------------------------------------------
DETS = _w("the a an this that these those some any each every all both another several many few more most "
          "one two three four five six seven eight nine ten extra")
INDEF = _w("a an some any another several many few more one two three four five six seven eight nine ten "
           "extra couple pair lots lot dozen bunch number handful")
QUANT = _w("couple pair lots lot dozen bunch number handful")  # determiners only before "of": "a couple of"
PLURAL_DETS = _w("these those some all both several many few more two three four five six seven eight nine "
                 "ten dozen couple pair lots lot")
PERSON = _w("he she they him her them me us you i himself herself themselves someone somebody everyone")
PLURAL_PERSON = _w("they them us themselves everyone their our theirs")
POSS = _w("his her their my your our its")
PERSON_POSS = POSS - {"its"}
PREPS = _w("to into with in on from as like for at by over under above below beneath underneath beside "
           "behind near next onto around through across between inside outside toward towards against along "
           "among within without instead upon atop throughout off out up down away via per than")
# Prepositions that place something: "add Y <LOC> the anchor".
LOC = _w("to in on onto into at over under above below beneath underneath beside behind near next around "
         "inside atop across along among between within upon against through outside toward towards up down "
         "out")
# Prepositional phrases after an object that only say where it is ("the man on the left ... old").
SKIP_PREPS = (LOC - {"to", "into", "for", "up", "down", "out"}) | {"next"}
BOUNDARY = PREPS | _w("and or but so then while if because which who whom whose where when be is are was "
                      "were been being become becomes became look looks looking seem seems appear appears "
                      "wear wears wearing has have having hold holds holding should would will can could "
                      "must may might made turns turned gets got , ; : ! ? .")
DET_OR_PERSON = DETS | PERSON
NOT_NOUN = BOUNDARY | DET_OR_PERSON
STARTS = DETS | PERSON | POSS | {"it", "everything"}  # words that can open a noun phrase
LINKS = _w("and or in of")  # inside an adjective phrase: "black and white", "rich in color"
ADVERBS = _w("more less very much really slightly too even so bit little quite extra somewhat")
LOOK = _w("look looks looking seem seems appear appears like")
COPULA = _w("be is are was were being been become becomes became to into turn turns get gets as should "
            "will would now")
SUBJECT_VERBS = _w("is are was were becomes become looks look has have wears wear should gets get seems "
                   "appears turns holds")
PREFIX = _w("please kindly now then also just so ok okay next finally")
FRAMES = [tuple(f.split()) for f in (  # framing before the instruction itself, longest first
    "i would like you to", "i want you to", "i need you to", "i would like to", "i want to", "go ahead and",
    "it needs to", "can you", "could you", "would you", "will you", "let us", "try to", "i want",
    "i would like", "i wish", "i need", "needs to", "it should", "should", "show me", "what if")]
ABBREV = _w("Mr Mrs Ms Dr St Jr Sr Mt vs Ft")  # a dot after these is not a sentence end
PLURAL_NOUNS = _w("people men women children mice geese feet teeth")

# --- nouns by what they mean for a map ------------------------------------------------------------------
WHOLE = _w("image picture photo photograph pic scene shot view landscape scenery setting environment world "
           "everything whole it this atmosphere")
GLOBAL_ATTR = _w("weather season time lighting color colour colors colours palette mood tone style contrast "
                 "saturation brightness exposure era decade climate vibe feel theme location place artist "
                 "medium perspective angle")
BACKGROUND = _w("background backdrop backgrounds surroundings")
SPATIAL = _w("left right top bottom middle center centre side front edge corner foreground distance "
             "surface area part end base tip upper lower half rest inside outside interior exterior "
             "left-hand right-hand left-side right-side lefthand righthand")
ATTR_NOUNS = _w("color colour shade hue tint texture pattern material shape size appearance look finish")
ING_NOUNS = _w("building buildings painting paintings clothing ceiling wedding ring rings king thing things "
               "evening morning swing spring earring earrings string wing wings pudding icing lightning "
               "sibling siblings duckling stocking stockings railing sling awning")
# "Stuff" (amorphous regions without countable instances) segments best with CLIPSeg.
STUFF = _w("sky skies cloud clouds water sea ocean lake river pond stream waves wave grass lawn meadow field "
           "fields road street path pavement sidewalk wall walls floor ground ceiling background backdrop "
           "snow sand dirt mud gravel ice fog mist haze smoke fire flames lava hair fur skin beard forest "
           "woods jungle trees foliage leaves vegetation bushes hills mountains desert beach shore coast "
           "coastline horizon sunset sunlight light shadows rain terrain carpet skyline rocks stars space "
           "land farmland marsh swamp canyon valley cliff cliffs waterfall countryside garden")
MASS = _w("water grass snow sand dirt mud gravel ice fog mist haze smoke fire lava hair fur skin foliage "
          "vegetation light sunlight rain terrain space land farmland marsh gold silver metal wood stone "
          "marble glass plastic paper candy lego chocolate")
PLACES = _w("beach jungle forest desert city town village graveyard cemetery space ocean sea mountains park "
            "room kitchen street landfill swamp moon mars castle office classroom library garden farm cave "
            "island underwater stadium barn church museum restaurant bar cafe school hospital market field "
            "meadow arctic antarctica savanna prairie tundra volcano battlefield spaceship station amusement "
            "alley lake river pool bedroom hallway palace arena jail prison galaxy universe party concert "
            "snow rain storm zoo circus")
WEAR = _w("suit suits dress dresses hat hats jacket jackets coat coats shoes pants jeans tie glasses "
          "sunglasses scarf clothes outfit outfits shirt shirts t-shirt sweater skirt boots gloves cap "
          "uniform uniforms costume costumes helmet armor armour tuxedo gown robe robes crown mask jersey "
          "makeup lipstick wig earrings necklace clothing kimono bikini swimsuit")
BODY = _w("hair face head eyes eye nose mouth lips ears ear cheek cheeks hand hands arm arms leg legs feet "
          "foot skin beard mustache moustache shoulder shoulders neck back chest forehead teeth body fingers "
          "nails eyebrows expression smile") | WEAR

# --- adjectives -----------------------------------------------------------------------------------------
ADJ = _w("red orange yellow green blue purple violet pink brown black white gray grey golden silver gold "
         "bronze copper beige teal turquoise cyan magenta maroon navy crimson scarlet indigo lavender ivory "
         "tan olive lime amber emerald ruby rainbow monochrome pastel neon transparent translucent dark "
         "light bright pale vivid vibrant dull shiny matte glossy metallic rusty wooden stone marble glass "
         "plastic metal frozen old young new ancient modern futuristic vintage retro big small large tiny "
         "huge giant gigantic little tall short long wide narrow thin fat thick happy sad angry scared "
         "surprised smiling crying beautiful ugly cute scary spooky clean dirty wet dry hot cold warm cool "
         "bare bald naked wild calm rough smooth soft hard curly straight wavy realistic abstract surreal "
         "full empty open closed broken fresh sick dead alive asleep awake hairy furry starry lovely holy "
         "evil fancy elegant strong weak fit slim skinny muscular chubby blonde blond brunette leather wood "
         "brick concrete steel iron crystal velvet silk denim lego chocolate black-and-white sepia colorful "
         "colourful anime cartoon pixelated blurred blurry smaller bigger larger taller shorter older "
         "younger darker brighter lighter invisible visible asian african grayscale greyscale")
# Nouns whose endings look like adjectives (-y, -ic, -ed, -ive) to the suffix rules.
NOT_ADJ = _w("party beauty puppy canopy poppy bunny penny balcony company candy teddy buddy comedy melody "
             "baby hobby lobby daisy galaxy energy kitty seabed flowerbed beehive mosaic comic music traffic "
             "picnic clinic graphic republic")
SIZE = _w("bigger larger taller longer wider huge giant gigantic enormous enlarge expand grow")

# --- whole-image words ----------------------------------------------------------------------------------
FOG = _w("fog foggy mist misty haze hazy smoke smoky")  # thickens with distance: a depth-weighted edit
SEASON = _w("winter summer spring autumn fall christmas halloween")
TIME = _w("day night nighttime dusk dawn sunset sunrise morning evening noon midnight daytime twilight")
WEATHER = _w("snow snowy rain rainy storm stormy fog foggy mist misty sunny cloudy overcast windy "
             "thunderstorm blizzard")
STYLE = _w("painting paintings drawing sketch art artwork style watercolor watercolour oil cartoon anime "
           "comic illustration render rendering photograph photo pixel poster mosaic sculpture statue "
           "engraving print mural manga portrait impressionist expressionist abstract surreal cyberpunk "
           "steampunk vaporwave baroque gothic renaissance pop lego claymation origami stained woodcut "
           "pencil charcoal pastel crayon ink graffiti 3d cgi film movie comic-book picasso monet van gogh "
           "rembrandt dali warhol banksy hokusai ukiyo-e")
GLOBAL_WORDS = STYLE | SEASON | TIME | WEATHER

# --- verb classes ---------------------------------------------------------------------------------------
MAKE = _w("make have let get paint color colour dye tint discolor discolour render show keep brush recolor")
PAINT = _w("paint draw brush spray")  # with an indefinite object they add: "paint a mural on the wall"
CHANGE = _w("change turn transform convert morph alter modify reform shift redesign transmute mutate switch "
            "set reimagine re-imagine restyle rework adjust edit update evolve re-envision stylize")
REPLACE = _w("replace swap exchange substitute trade")
ADD = _w("add put place insert include install attach hang draw create build construct plant position "
         "arrange inject scatter drop stick lean throw introduce generate spawn append lay mount visualize "
         "imagine spray paint toss grow sprout")
MOVE = _w("move send take transport relocate bring teleport drive fly")
PUT = _w("put place set position arrange hang lean stick lay mount") | MOVE  # a definite object is moved
REMOVE = _w("remove delete erase eliminate clear strip wipe cut")
REMOVE_PHRASES = (("get", "rid", "of"), ("take", "away"), ("take", "out"), ("leave", "out"), ("cut", "out"),
                  ("take", "off"))
GIVE = _w("give grant provide")
COVER = {"cover": "covered", "fill": "filled", "decorate": "decorated", "surround": "surrounded",
         "coat": "coated", "wrap": "wrapped", "sprinkle": "sprinkled", "splash": "splashed", "line": "lined",
         "dress": "dressed"}
# Verbs that mean "make it ADJ": "darken the sky" is "make the sky darker".
VERB_ADJ = {
    "blur": "blurred", "sharpen": "sharper", "brighten": "brighter", "darken": "darker", "lighten": "lighter",
    "enlarge": "larger", "shrink": "smaller", "widen": "wider", "age": "older", "whiten": "whiter",
    "redden": "redder", "blacken": "blackened", "warm": "warmer", "cool": "cooler", "soften": "softer",
    "saturate": "more saturated", "desaturate": "less saturated", "dry": "dry", "wet": "wet",
    "flatten": "flatter", "thicken": "thicker", "lengthen": "longer", "shorten": "shorter",
    "green": "greener", "yellow": "yellower", "freeze": "frozen", "melt": "melting", "burn": "burning",
}
VERBS = CHANGE | MAKE | ADD | MOVE | REMOVE | REPLACE | GIVE | COVER.keys()
# Bare verbs that end the object after "make"/"have"/"let": "have the kids cross the street".
ACTIONS = _w("cross run jump swim fly dance sing sit stand eat ride read smile laugh cry sleep hug climb "
             "float talk cook walk kneel lie lean glow shine sparkle")
WITH_VERBS = {"wear": "wearing", "wears": "wearing", "hold": "holding", "holds": "holding", "has": "with",
              "have": "with", "having": "with", "carry": "carrying", "ride": "riding", "rides": "riding"}
