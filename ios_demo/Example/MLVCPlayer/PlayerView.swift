import SwiftUI

/// The picture, a play button, an exact/fast switch and one row per decoded frame with its MD5 check.
struct PlayerView: View {
    @StateObject private var model = PlayerModel()

    var body: some View {
        VStack(spacing: 12) {
            Group {
                if let picture = model.picture {
                    Image(decorative: picture, scale: 1).resizable().interpolation(.none).scaledToFit()
                } else {
                    Rectangle().fill(.black)
                }
            }
            .frame(maxHeight: 320)

            HStack {
                Toggle("Exact (CPU)", isOn: $model.exact)
                Button("Play") { model.play() }.buttonStyle(.borderedProminent)
            }
            Text(model.status).font(.footnote)

            List(model.results) { r in
                HStack {
                    Image(systemName: r.verified ? "checkmark.seal.fill" : "xmark.seal.fill")
                        .foregroundStyle(r.verified ? .green : .red)
                    Text("#\(r.id)  \(r.type)  q\(r.quality)")
                    Spacer()
                    Text(r.md5.prefix(12) + "…").font(.caption.monospaced())
                }
            }
        }
        .padding()
    }
}
