package ai.mlvc

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/**
 * The golden block-tree clips (conformance/golden/blocktree.json, modes 4/5 of §4c, written by
 * sdk/mlvc/conformance/golden.py) step by step: per P-frame the header fields, every PB (position,
 * size, vector, skip, merge, merge index), the prediction, the picture before deblocking and the
 * decoded picture equal the NumPy reference's, so that a mismatch names the stage.
 */
class BlockTreeGoldenTest {
    private fun trees(): List<Pair<Golden.StreamInfo, Map<Int, Golden.TreeFrame>>> {
        val t = Golden.treeStreams
        requireGolden("no block-tree clips (blocktree.json)", t.isNotEmpty())
        return t
    }

    @Test
    fun clipsDecodeStageByStage() {
        var pFrames = 0
        val modes = HashSet<Int>()
        for ((s, treeFrames) in trees()) {
            val h = s.height
            val w = s.width
            val motions = HashMap<Int, MotionTrace>()
            val frames = Decoder(s.file.readBytes(), Golden.pkg, GoldenNetworkRunner(s.networkFrames)).use { dec ->
                dec.motionObserver = { i, m -> motions[i] = m }
                dec.decodeAll()
            }
            assertEquals(s.frames.size, frames.size)
            for ((i, g) in s.frames.withIndex()) {
                val where = "${s.name} frame $i"
                assertEquals("$where md5", g.md5, frames[i].md5Hex)
                assertTrue(frames[i].verified)
                val tf = treeFrames[i] ?: continue
                pFrames++
                val m = motions.getValue(i)
                val tree = m.blockTree!!
                val hd = tree.header
                modes += hd.mode
                assertEquals("$where mode", g.mode, hd.mode)
                assertEquals("$where mv_table", g.mvTable, hd.mvTable)
                assertArrayEquals("$where f_split", tf.fSplit, hd.fSplit)
                assertEquals("$where f_merge", tf.fMerge, hd.fMerge)
                assertEquals("$where f_midx", tf.fMidx, hd.fMergeIndex)
                assertEquals("$where f_skip", tf.fSkip, hd.fSkip)
                assertEquals("$where deblock", tf.deblock, hd.deblock)
                assertEquals("$where S", tf.substreamBytes, hd.blockLength)
                val rows = tf.pbs
                assertEquals("$where PB count", tf.pbsShape[0], tree.blocks.size)
                for ((k, b) in tree.blocks.withIndex()) {
                    val r = rows.copyOfRange(8 * k, 8 * k + 8).toList()
                    assertEquals("$where PB $k", r, listOf(b.y, b.x, b.size, b.dy, b.dx, if (b.skip) 1 else 0,
                        if (b.merge) 1 else 0, if (b.merge) b.mergeIndex else 0))
                }
                val pred = BlockTreeCodec.predict(frames[i - 1].rgb, h, w, tree.blocks)
                assertArrayEquals("$where prediction", tf.pred, pred)
                val pre = pred.copyOf()
                if (hd.hasResidual) {
                    val pw = g.yShape[2] * 16
                    val img = g.i8("gs_image.i8")
                    val r = ByteArray(h * w * 3) { j -> val px = j / 3; img[((px / w) * pw + px % w) * 3 + j % 3] }
                    BlockTreeCodec.addResidual(pre, r, tree)
                }
                assertArrayEquals("$where before deblocking", tf.prefilter, pre)
                BlockTreeCodec.deblock(pre, tree)
                assertArrayEquals("$where deblocked", frames[i].rgb, pre)
                // And the literal transcriptions agree on the golden data.
                assertArrayEquals("$where spec prediction", tf.pred, BlockTreeSpec.predict(frames[i - 1].rgb, h, w, tree.blocks))
                assertArrayEquals("$where spec deblocking", frames[i].rgb, BlockTreeSpec.deblock(tf.prefilter, h, w, tree.blocks, hd.deblock))
            }
        }
        assertTrue("golden block-tree P-frames: $pFrames", pFrames > 0)
        requireGolden("golden block-tree clips with modes 4 and 5 (have $modes)", modes.containsAll(listOf(4, 5)))
    }
}
