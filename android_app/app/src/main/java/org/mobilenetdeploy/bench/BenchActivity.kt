package org.mobilenetdeploy.bench

import android.app.Activity
import android.content.Intent
import android.content.IntentFilter
import android.os.BatteryManager
import android.os.Build
import android.os.Bundle
import android.os.PowerManager
import android.os.Process
import android.os.SystemClock
import android.util.Log
import android.view.WindowManager
import android.widget.TextView
import java.io.File
import org.json.JSONArray
import org.json.JSONObject
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor

/**
 * The in-app benchmark: loads one .pte with the ExecuTorch Android library and runs a first
 * inference, warmups and measured iterations of "forward" on ONE thread of this foreground app,
 * then writes the runner result JSON (the C++ runner's schema, see bench/results.py) to
 * <external files dir>/<output>, i.e. /sdcard/Android/data/org.mobilenetdeploy.bench/files/.
 *
 * Intent extras (am start -W -S -n org.mobilenetdeploy.bench/.BenchActivity ...):
 *   --es pte /data/local/tmp/mobilenet_deploy/m.pte   the program (required)
 *   --es shape 1,3,224,224                            input shape (the Java API cannot read it)
 *   --ei warmup 5  --ei iterations 50  --ei threads 1 --el seed 0
 *   --es load_mode file|mmap                          how the program is loaded
 *   --es output result.json                           file name under the files dir
 *   --es preprocessing '{"name":"imagenet",...}'      the artifact's manifest preprocessing
 *                                                     (JSON): the synthetic input is noise
 *                                                     pixels made into a tensor the way the
 *                                                     artifact's inputs are (without it: the
 *                                                     runner's raw [-1, 1) stream)
 *   --ez finish true                                  close the activity when done
 *
 * A failure writes <output>.error (one line) instead; the result appears atomically (renamed
 * from a temporary file), so a reader never sees half a result.
 */
class BenchActivity : Activity() {
    private lateinit var status: TextView

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        window.addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
        status = TextView(this).apply {
            setPadding(32, 32, 32, 32)
            textSize = 16f
            text = "MobileNet bench: starting"
        }
        setContentView(status)

        val options = try {
            Options.from(intent)
        } catch (e: IllegalArgumentException) {
            fail(intent.getStringExtra("output") ?: DEFAULT_OUTPUT, e.message ?: e.toString())
            return
        }
        // The whole benchmark runs on this one thread (ExecuTorch's pool is sized by `threads`).
        Thread({ runBenchmark(options) }, "mobilenet-bench").start()
    }

    private data class Options(
        val pte: String,
        val shape: LongArray,
        val warmup: Int,
        val iterations: Int,
        val threads: Int,
        val seed: Long,
        val loadMode: String,
        val output: String,
        val finish: Boolean,
        val preprocessing: JSONObject?,
        val recipe: InputRecipe?,
    ) {
        companion object {
            /** The fields of the manifest's preprocessing (deploy/artifacts/preprocessing.py). */
            fun recipeOf(json: JSONObject): InputRecipe {
                fun floats(key: String, count: Int, default: FloatArray? = null): FloatArray {
                    val array = json.optJSONArray(key)
                        ?: return default ?: throw IllegalArgumentException("preprocessing lacks '$key'")
                    require(array.length() == count) { "preprocessing '$key' needs $count numbers" }
                    return FloatArray(count) { array.getDouble(it).toFloat() }
                }
                val range = floats("value_range", 2, floatArrayOf(0f, 1f))
                return InputRecipe(
                    name = json.optString("name", "unnamed"),
                    channelOrder = json.optString("channel_order", "RGB"),
                    mean = floats("mean", 3),
                    std = floats("std", 3),
                    low = range[0],
                    high = range[1],
                )
            }

            fun from(intent: Intent): Options {
                val pte = intent.getStringExtra("pte")
                    ?: throw IllegalArgumentException("missing extra 'pte' (--es pte /path/m.pte)")
                val output = intent.getStringExtra("output") ?: DEFAULT_OUTPUT
                require(output.isNotEmpty() && !output.contains('/')) { "output '$output' must be a plain file name" }
                val warmup = intent.getIntExtra("warmup", 5)
                val iterations = intent.getIntExtra("iterations", 50)
                val threads = intent.getIntExtra("threads", 1)
                require(warmup >= 0 && iterations >= 1) { "need warmup >= 0 and iterations >= 1" }
                require(threads >= 1) { "threads must be >= 1" }
                val loadMode = intent.getStringExtra("load_mode") ?: "file"
                require(loadMode == "file" || loadMode == "mmap") { "load_mode must be file or mmap" }
                val preprocessing = intent.getStringExtra("preprocessing")?.let { text ->
                    try {
                        JSONObject(text)
                    } catch (e: org.json.JSONException) {
                        throw IllegalArgumentException("extra 'preprocessing' is not a JSON object: ${e.message}")
                    }
                }
                return Options(
                    pte = pte,
                    shape = parseShape(intent.getStringExtra("shape") ?: "1,3,224,224"),
                    warmup = warmup,
                    iterations = iterations,
                    threads = threads,
                    seed = intent.getLongExtra("seed", 0L),
                    loadMode = loadMode,
                    output = output,
                    finish = intent.getBooleanExtra("finish", true),
                    preprocessing = preprocessing,
                    recipe = preprocessing?.let { recipeOf(it) },
                )
            }
        }
    }

    private fun outputDir(): File = getExternalFilesDir(null) ?: filesDir

    private fun show(text: String) {
        Log.i(TAG, text)
        runOnUiThread { status.text = text }
    }

    private fun writeAtomically(name: String, text: String) {
        val dir = outputDir()
        dir.mkdirs()
        val temp = File(dir, ".$name.tmp")
        temp.writeText(text)
        if (!temp.renameTo(File(dir, name))) throw IllegalStateException("cannot write ${File(dir, name)}")
    }

    private fun fail(output: String, message: String) {
        val line = message.lineSequence().firstOrNull()?.take(500) ?: "unknown error"
        Log.e(TAG, line)
        try {
            writeAtomically("$output.error", line + "\n")
        } catch (e: Exception) {
            Log.e(TAG, "cannot write the error file: $e")
        }
        runOnUiThread {
            status.text = "MobileNet bench failed: $line"
            finish()
        }
    }

    private fun runBenchmark(o: Options) {
        try {
            File(outputDir(), o.output).delete()
            File(outputDir(), "${o.output}.error").delete()
            val file = File(o.pte)
            require(file.canRead()) { "cannot read ${o.pte}: push it and make it world-readable (chmod 644)" }
            val tid = Process.myTid()
            val cpuStart = lastCpuOf(tid)
            show("hashing ${file.name}")
            val sha = sha256Hex(file)

            show("loading ${file.name}")
            val mode = if (o.loadMode == "mmap") Module.LOAD_MODE_MMAP else Module.LOAD_MODE_FILE
            val t0 = SystemClock.elapsedRealtimeNanos()
            val module = Module.load(o.pte, mode, o.threads)
            val rc = module.loadMethod("forward")
            val loadMs = msSince(t0)
            require(rc == 0) { "cannot load method forward (error $rc)" }

            val numel = o.shape.fold(1L) { a, b -> a * b }
            require(numel in 1..Int.MAX_VALUE) { "input shape too large" }
            // The manifest's preprocessing, when given, makes the synthetic input (never a constant).
            val data = o.recipe?.let { preprocessedNoise(o.shape, o.seed, it) }
                ?: SplitMix64.fill(numel.toInt(), o.seed)
            val input = EValue.from(Tensor.fromBlob(data, o.shape))

            fun runOnce(): Pair<Double, Array<EValue>> {
                val start = SystemClock.elapsedRealtimeNanos()
                val out = module.forward(input)
                val ms = msSince(start)
                check(out.isNotEmpty()) { "forward returned nothing" }
                return Pair(ms, out)
            }

            show("first inference")
            val firstMs = runOnce().first
            val warmupMs = DoubleArray(o.warmup)
            for (i in 0 until o.warmup) warmupMs[i] = runOnce().first
            show("measuring ${o.iterations} iterations")
            val samples = DoubleArray(o.iterations)
            var last: Array<EValue>? = null
            for (i in 0 until o.iterations) {
                val (ms, out) = runOnce()
                samples[i] = ms
                last = out
            }
            val cpuEnd = lastCpuOf(tid)
            val outTensor = last!![0].toTensor()
            val values = outTensor.dataAsFloatArray
            val summary = summarize(values)
            module.destroy()

            val json = resultJson(o, sha, loadMs, firstMs, warmupMs, samples, summary,
                outTensor.shape(), values.size, cpuMaskOf(tid), cpuStart, cpuEnd)
            writeAtomically(o.output, json.toString() + "\n")
            show("done: median %.2f ms -> %s".format(samples.sorted()[samples.size / 2], o.output))
            if (o.finish) runOnUiThread { finish() }
        } catch (t: Throwable) {
            fail(o.output, "${t.javaClass.simpleName}: ${t.message}")
        }
    }

    private fun resultJson(
        o: Options, sha: String, loadMs: Double, firstMs: Double, warmupMs: DoubleArray,
        samples: DoubleArray, s: OutputSummary, outShape: LongArray, numel: Int, mask: String,
        cpuStart: Int, cpuEnd: Int,
    ): JSONObject {
        val power = getSystemService(POWER_SERVICE) as PowerManager
        val battery = registerReceiver(null, IntentFilter(Intent.ACTION_BATTERY_CHANGED))
        val batteryTemp = battery?.getIntExtra(BatteryManager.EXTRA_TEMPERATURE, Int.MIN_VALUE)
            ?.takeIf { it != Int.MIN_VALUE }?.let { it / 10.0 }
        val device = JSONObject()
            .put("manufacturer", Build.MANUFACTURER)
            .put("model", Build.MODEL)
            .put("soc", if (Build.VERSION.SDK_INT >= 31) Build.SOC_MODEL else Build.HARDWARE)
            .put("android_version", Build.VERSION.RELEASE)
            .put("sdk", Build.VERSION.SDK_INT)
            .put("abi", Build.SUPPORTED_ABIS.firstOrNull() ?: "unknown")
            .put("cpu_start", cpuStart)
            .put("cpu_end", cpuEnd)
            .put("online_cpus", Runtime.getRuntime().availableProcessors())
            .put("thermal_status", if (Build.VERSION.SDK_INT >= 29) power.currentThermalStatus else JSONObject.NULL)
            .put("battery_temp_c", batteryTemp ?: JSONObject.NULL)
            .put("power_save", power.isPowerSaveMode)
            .put("thread_priority", Process.getThreadPriority(Process.myTid()))
            .put("foreground_app", true)
        val config = JSONObject()
            .put("threads", o.threads)
            .put("cpu_mask", mask)
            .put("warmup", o.warmup)
            .put("iterations", samples.size)
            .put("input", o.recipe?.let { "seed:${o.seed} via ${it.name} preprocessing" } ?: "seed:${o.seed}")
            .put("preprocessing", o.preprocessing ?: JSONObject.NULL)
            .put("input_shape", JSONArray(o.shape.toList()))
            .put("input_dtype", "float32")
            .put("load_mode", o.loadMode)
            .put("mode", "app")
        val output = JSONObject()
            .put("checksum", s.checksum)
            .put("abs_sum", s.absSum)
            .put("top1", s.top1)
            .put("top1_value", s.top1Value)
            .put("dtype", "float32")
            .put("shape", JSONArray(outShape.toList()))
            .put("numel", numel)
        return JSONObject()
            .put("schema_version", 1)
            .put("runner", JSONObject()
                .put("name", "android_app")
                .put("version", BuildConfig.VERSION_NAME)
                .put("executorch_version", BuildConfig.EXECUTORCH_VERSION))
            .put("artifact", JSONObject().put("sha256", sha).put("path", o.pte))
            .put("config", config)
            .put("load_ms", loadMs)
            .put("first_inference_ms", firstMs)
            .put("warmup_ms", JSONArray(warmupMs.toList()))
            .put("samples_ms", JSONArray(samples.toList()))
            .put("output", output)
            .put("device", device)
            .put("emulated", isEmulator())
    }

    private fun isEmulator(): Boolean =
        // The Android emulator is QEMU: its timings are not a phone's (the store drops them).
        Build.FINGERPRINT.startsWith("generic") || Build.HARDWARE.contains("ranchu") ||
            Build.HARDWARE.contains("goldfish")

    companion object {
        const val TAG = "MobileNetBench"
        const val DEFAULT_OUTPUT = "result.json"

        fun msSince(startNanos: Long): Double = (SystemClock.elapsedRealtimeNanos() - startNanos) / 1e6
    }
}
