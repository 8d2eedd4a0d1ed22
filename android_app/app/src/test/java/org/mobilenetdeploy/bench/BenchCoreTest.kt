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
