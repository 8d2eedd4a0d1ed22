package org.mobilenetdeploy.bench

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test

class BenchCoreTest {
    @Test
    fun splitMixMatchesTheCppRunner() {
        // The first floats bench_runner.cpp feeds for seed 0 (tests/ios checks a Python port).
        val expected = floatArrayOf(-0.5452635288238525f, 0.5027588605880737f, 0.2359253168106079f, 0.3082998991012573f)
        assertArrayEquals(expected, SplitMix64.fill(4, 0L), 0f)
    }

    @Test
    fun preprocessedNoiseFollowsTheRecipe() {
        // Figures of tests/android_app/synthetic.py (checked by tests/android_app): seed 0,
        // 1 x 3 x 2 x 2, ImageNet's mean/std (RGB), then the digits recipe (grey replicated).
        val imagenet = InputRecipe(
            "imagenet", "RGB", floatArrayOf(0.485f, 0.456f, 0.406f),
            floatArrayOf(0.229f, 0.224f, 0.225f), 0f, 1f,
        )
        val rgb = floatArrayOf(-1.1250295639038086f, 1.1632288694381714f, 0.5806229114532471f, 0.7386459708213806f, 1.2380545139312744f)
        val shape = longArrayOf(1, 3, 2, 2)
        assertArrayEquals(rgb, preprocessedNoise(shape, 0L, imagenet).copyOf(5), 1e-6f)
        val digits = InputRecipe(
            "digits", "LLL", FloatArray(3) { 0.305496f }, FloatArray(3) { 0.324677f }, 0f, 1f,
        )
        val grey = preprocessedNoise(shape, 0L, digits)
        val expected = floatArrayOf(-0.2406322956085205f, 1.3733139038085938f, 0.9623923301696777f, 1.0738486051559448f)
        assertArrayEquals(expected, grey.copyOf(4), 1e-6f)
        assertArrayEquals(grey.copyOf(4), grey.copyOfRange(8, 12), 0f)
    }

    @Test(expected = IllegalArgumentException::class)
    fun aRecipeWithAnUnknownChannelOrderIsRefused() {
        InputRecipe("x", "CMYK", FloatArray(3), FloatArray(3) { 1f }, 0f, 1f)
    }

    @Test
    fun shapesParse() {
        assertArrayEquals(longArrayOf(1, 3, 224, 224), parseShape("1,3,224,224"))
        assertArrayEquals(longArrayOf(1, 3, 64, 64), parseShape(" 1, 3, 64 ,64"))
    }

    @Test(expected = IllegalArgumentException::class)
    fun badShapesAreRefused() {
        parseShape("1,3,,224")
    }

    @Test
    fun summaryIsSumAbsSumAndArgMax() {
        val s = summarize(floatArrayOf(1f, -3f, 2f))
        assertEquals(0.0, s.checksum, 0.0)
        assertEquals(6.0, s.absSum, 0.0)
        assertEquals(2, s.top1)
    }
}
