package ai.mlvc.demo

import ai.mlvc.DecodedFrame
import ai.mlvc.DecoderOptions
import ai.mlvc.MlvcException
import android.app.Activity
import android.graphics.Bitmap
import android.os.Bundle
import android.os.SystemClock
import android.widget.Button
import android.widget.ImageView
import android.widget.TextView
import java.util.concurrent.Executors

/** Decodes every bundled conformance stream and lists each frame's hash verification. */
class MainActivity : Activity() {
    private val worker = Executors.newSingleThreadExecutor()
    private val threads = Runtime.getRuntime().availableProcessors().coerceIn(1, 4)

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        val log = findViewById<TextView>(R.id.log)
        val preview = findViewById<ImageView>(R.id.preview)
        findViewById<TextView>(R.id.backend).text = getString(R.string.backend_label, threads)
        findViewById<Button>(R.id.decode).setOnClickListener { button ->
            button.isEnabled = false
            log.setText(R.string.status_running)
            worker.execute {
                val lines = StringBuilder()
                var last: DecodedFrame? = null
                var ok = 0
                var total = 0
                val t0 = SystemClock.elapsedRealtime()
                val bundled = Bundled(assets)
                try {
                    val options = DecoderOptions.Builder().numThreads(threads).build()
                    bundled.runner(threads).use { runner ->
                        // The startup probe, once per environment (cached in the app's cache dir):
                        // a CPU that does not reproduce the battery makes the runner approximate.
                        val probed = bundled.probed(runner, cacheDir)
                        lines.appendLine("probe: ${probed.probe}")
                        for (stream in bundled.streams()) {
                            bundled.decoder(stream, probed, options).use { dec ->
                                for (f in dec) {
                                    total++
                                    if (f.verified) ok++
                                    last = f
                                    lines.appendLine(getString(R.string.frame_line, stream, f.index, f.frameType, f.quality,
                                        f.width, f.height, getString(if (f.verified) R.string.verified else R.string.mismatch)))
                                }
                            }
                        }
                    }
                    lines.appendLine(getString(R.string.summary, ok, total, SystemClock.elapsedRealtime() - t0))
                } catch (e: MlvcException) {
                    lines.appendLine("error ${e.kind.code}: ${e.message}")
                }
                val bitmap = last?.let(::toBitmap)
                runOnUiThread {
                    log.text = lines
                    bitmap?.let(preview::setImageBitmap)
                    button.isEnabled = true
                }
            }
        }
    }

    override fun onDestroy() {
        worker.shutdown()
        super.onDestroy()
    }

    private fun toBitmap(f: DecodedFrame): Bitmap {
        val px = IntArray(f.width * f.height) { i ->
            val r = f.rgb[3 * i].toInt() and 0xFF
            val g = f.rgb[3 * i + 1].toInt() and 0xFF
            val b = f.rgb[3 * i + 2].toInt() and 0xFF
            (0xFF shl 24) or (r shl 16) or (g shl 8) or b
        }
        return Bitmap.createBitmap(px, f.width, f.height, Bitmap.Config.ARGB_8888)
    }
}
