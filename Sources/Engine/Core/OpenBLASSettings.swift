import COpenBLAS
import CKernels
import Foundation

/// The OpenBLAS settings Confab wants, which OpenBLAS reads only once, when the library is loaded (before
/// `main`): so the command sets what is missing and starts itself again (see `App/Confab.swift`).
///
/// - `OPENBLAS_THREAD_TIMEOUT=4`: OpenBLAS's worker threads otherwise spin for about 0.1 s after every
///   multi-threaded call; on two cores that takes the CPU from the language model and the audio threads. (The
///   engine runs OpenBLAS on one thread and shares products over its own pool, `sgemm` in Gemm.swift; the timeout
///   still keeps the workers OpenBLAS starts when it loads from spinning.)
/// - `OPENBLAS_CORETYPE`: a build of OpenBLAS older than the CPU (Debian 12 ships 0.3.21) does not know
///   newer Intel models (Sapphire Rapids, Emerald Rapids…) and falls back to its SSE3 "Prescott" kernels,
///   although the CPU has AVX-512. Whisper's encoder then takes 1.1 s instead of 0.3 s. When the chosen
///   kernels use less of the vector units than the CPU has, Confab names the matching family. That includes
///   an `OPENBLAS_CORETYPE` set in the environment for other programs (some machines set `Haswell` for every
///   process, which on a Zen 5 costs Whisper's encoder 1.5×): Confab only ever widens it, to kernels the CPU
///   has. `CONFAB_OPENBLAS_CORETYPE` forces a family for Confab alone, narrower ones included.
public enum OpenBLASSettings {
    /// The variables to set, with their values, where the environment does not already hold them.
    /// `chosen`: the family OpenBLAS picked in this process (which reflects any `OPENBLAS_CORETYPE`).
    public static func missing(environment: [String: String] = ProcessInfo.processInfo.environment,
                               chosen: String = chosenCore, cpuLevel: Int = cpuLevel) -> [(String, String)] {
        var out: [(String, String)] = []
        if environment["OPENBLAS_THREAD_TIMEOUT"] == nil { out.append(("OPENBLAS_THREAD_TIMEOUT", "4")) }
        let current = environment["OPENBLAS_CORETYPE"]
        if let forced = environment["CONFAB_OPENBLAS_CORETYPE"], !forced.isEmpty {
            if current != forced { out.append(("OPENBLAS_CORETYPE", forced)) }
        } else if let core = betterCoreType(chosen: chosen, cpuLevel: cpuLevel), current != core {
            // (`current == core`: this OpenBLAS does not have that family; asking again would only loop.)
            out.append(("OPENBLAS_CORETYPE", core))
        }
        return out
    }

    /// The kernel family OpenBLAS picked for this process ("Prescott", "Haswell", "SkylakeX", "Cooperlake"…).
    public static var chosenCore: String {
        guard let name = openblas_get_corename() else { return "" }
        return String(cString: name).trimmingCharacters(in: .whitespaces)
    }

    /// 2: AVX-512 (F, BW, DQ, VL, CD, enabled by the OS); 1: AVX2 and FMA; 0: less.
    public static var cpuLevel: Int { Int(confab_cpu_vector_level()) }

    /// A family to ask for when `chosen` uses fewer vector units than the CPU has, else nil.
    public static func betterCoreType(chosen: String, cpuLevel: Int) -> String? {
        let level: Int
        switch chosen.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": level = 2
        case "haswell", "zen", "excavator", "steamroller": level = 1   // AVX2 kernels (Zen's are Haswell's)
        default: level = 0
        }
        guard cpuLevel > level else { return nil }
        return cpuLevel >= 2 ? "SkylakeX" : "Haswell"
    }
}
