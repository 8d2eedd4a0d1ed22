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
