package org.mobilenetdeploy.bench

import java.io.File
import java.security.MessageDigest

/** The deterministic input of bench_runner.cpp: splitmix64 floats in [-1, 1) from a seed. */
class SplitMix64(seed: Long) {
    private var state: Long = seed * -0x61c8864680b583ebL + 0x1234567L

    fun next(): Long {
        state += -0x61c8864680b583ebL
        var z = state
        z = (z xor (z ushr 30)) * -0x40a7b892e31b1a47L
        z = (z xor (z ushr 27)) * -0x6b2fb644ecceee15L
        return z xor (z ushr 31)
    }

    fun nextUnitFloat(): Float {
        val bits = (next() ushr 40).toInt() - (1 shl 23)
        return bits.toFloat() / (1 shl 23).toFloat()
    }

    companion object {
        fun fill(count: Int, seed: Long): FloatArray {
            val rng = SplitMix64(seed)
            return FloatArray(count) { rng.nextUnitFloat() }
        }
    }
}

/**
 * The artifact's preprocessing (its manifest entry's, passed by bench/android/app.py as the
 * `preprocessing` intent extra), as far as a synthetic input needs it.
 */
class InputRecipe(
    val name: String,
    val channelOrder: String,
    val mean: FloatArray,
    val std: FloatArray,
    val low: Float,
    val high: Float,
) {
    init {
        require(channelOrder in CHANNEL_ORDERS) { "preprocessing channel_order '$channelOrder' is not one of $CHANNEL_ORDERS" }
        require(mean.size == 3 && std.size == 3) { "preprocessing mean and std need 3 values" }
        require(std.all { it > 0f }) { "preprocessing std must be positive" }
        require(high > low) { "preprocessing value_range must increase" }
    }

    companion object {
        val CHANNEL_ORDERS = listOf("RGB", "BGR", "LLL")
    }
}

/**
 * A synthetic picture made the way the artifact's real inputs are made: splitmix64 pixels in
 * [0, 1) ((u + 1) / 2 of the runner's stream; one grey plane replicated for "LLL", else one
 * plane per channel), mapped onto value_range, then (value - mean[c]) / std[c], N x 3 x H x W.
 * tests/android_app/synthetic.py is the Python port the figures in BenchCoreTest are checked with.
 */
fun preprocessedNoise(shape: LongArray, seed: Long, recipe: InputRecipe): FloatArray {
    require(shape.size == 4 && shape[1] == 3L) {
        "the manifest's preprocessing makes N x 3 x H x W inputs, not ${shape.joinToString("x")}"
    }
    val batch = shape[0].toInt()
    val plane = (shape[2] * shape[3]).toInt()
    val planes = if (recipe.channelOrder == "LLL") 1 else 3
    val rng = SplitMix64(seed)
    val out = FloatArray(batch * 3 * plane)
    for (n in 0 until batch) {
        val pixels = Array(planes) { FloatArray(plane) { (rng.nextUnitFloat() + 1f) * 0.5f } }
        for (c in 0 until 3) {
            val source = pixels[if (planes == 1) 0 else c]
            val base = (n * 3 + c) * plane
            for (i in 0 until plane) {
                val value = recipe.low + (recipe.high - recipe.low) * source[i]
                out[base + i] = (value - recipe.mean[c]) / recipe.std[c]
            }
        }
    }
    return out
}

/** "1,3,224,224" -> [1, 3, 224, 224]; every dimension must be a positive integer. */
fun parseShape(text: String): LongArray {
    val parts = text.split(",").map { it.trim() }
    require(parts.isNotEmpty() && parts.all { it.isNotEmpty() }) { "bad input shape '$text'" }
    val dims = parts.map { it.toLongOrNull() ?: throw IllegalArgumentException("bad input shape '$text'") }
    require(dims.all { it > 0 }) { "input shape '$text' has a dimension < 1" }
    return dims.toLongArray()
}

/** Sum, absolute sum and arg-max of an output, as bench_runner.cpp computes them. */
data class OutputSummary(val checksum: Double, val absSum: Double, val top1: Int, val top1Value: Double)

fun summarize(values: FloatArray): OutputSummary {
    var checksum = 0.0
    var absSum = 0.0
    var best = Double.NEGATIVE_INFINITY
    var top1 = -1
    for (i in values.indices) {
        val v = values[i].toDouble()
        checksum += v
        absSum += Math.abs(v)
        if (v > best) {
            best = v
            top1 = i
        }
    }
    return OutputSummary(checksum, absSum, top1, best)
}

fun sha256Hex(file: File): String {
    val digest = MessageDigest.getInstance("SHA-256")
    file.inputStream().use { input ->
        val buffer = ByteArray(1 shl 20)
        while (true) {
            val n = input.read(buffer)
            if (n < 0) break
            digest.update(buffer, 0, n)
        }
    }
    return digest.digest().joinToString("") { "%02x".format(it) }
}

/** The CPU a thread last ran on: field 39 of /proc/self/task/<tid>/stat (-1 if unreadable). */
fun lastCpuOf(tid: Int): Int = try {
    val stat = File("/proc/self/task/$tid/stat").readText()
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    val fields = stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ")
    fields[39 - 3].toInt()
} catch (e: Exception) {
    -1
}

/** "Cpus_allowed: ff" of /proc/self/task/<tid>/status as "0xff" ("unknown" if unreadable). */
fun cpuMaskOf(tid: Int): String = try {
    File("/proc/self/task/$tid/status").readLines()
        .firstOrNull { it.startsWith("Cpus_allowed:") }
        ?.substringAfter(":")?.trim()?.replace(",", "")?.trimStart('0')
        ?.let { "0x" + it.ifEmpty { "0" } } ?: "unknown"
} catch (e: Exception) {
    "unknown"
}
