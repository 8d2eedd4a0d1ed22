// The artifact's identity: sha256 of a file, or for a directory (.mlpackage, .mlmodelc) the
// digest deploy/export/manifest.py (`sha256_path`) writes into the manifest, so the manifest and
// the result name the same thing:
//
//   sha256 over, for every regular file in the order of its relative path's components
//   (code-point order, as Python sorts paths; hidden files included):
//   "<relative POSIX path>\0<sha256 hex of its bytes>"

import CryptoKit
import Foundation

func hex(_ digest: SHA256.Digest) -> String {
    digest.map { String(format: "%02x", $0) }.joined()
}

func fileSHA256(_ url: URL) throws -> String {
    let handle = try FileHandle(forReadingFrom: url)
    defer { try? handle.close() }
    var hasher = SHA256()
    while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
        hasher.update(data: chunk)
    }
    return hex(hasher.finalize())
}

public func artifactSHA256(_ url: URL) throws -> String {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
        throw BenchmarkError.modelMissing(url.path)
    }
    if !isDir.boolValue { return try fileSHA256(url) }

    let base = url.resolvingSymlinksInPath().standardizedFileURL
    let basePath = base.path.hasSuffix("/") ? base.path : base.path + "/"
    guard
        let walker = FileManager.default.enumerator(
            at: base, includingPropertiesForKeys: [.isRegularFileKey], options: [])
    else {
        throw BenchmarkError.modelMissing(url.path)
    }
    var files: [(String, URL)] = []
    for case let item as URL in walker {
        let values = try item.resourceValues(forKeys: [.isRegularFileKey])
        guard values.isRegularFile == true else { continue }
        let full = item.resolvingSymlinksInPath().standardizedFileURL.path
        guard full.hasPrefix(basePath) else { continue }
        files.append((String(full.dropFirst(basePath.count)), item))
    }
    // Component-wise, each component in code-point order: Python's ordering of Path objects.
    files.sort { a, b in
        a.0.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
            .lexicographicallyPrecedes(
                b.0.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
            ) { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
    }
    var hasher = SHA256()
    for (relative, item) in files {
        hasher.update(data: Data("\(relative)\u{0}\(try fileSHA256(item))".utf8))
    }
    return hex(hasher.finalize())
}
