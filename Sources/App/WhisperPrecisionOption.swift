import ArgumentParser
import Engine

/// `--precision` of `transcribe` and `bench asr`: one help text, the default named from what this CPU runs.
extension WhisperPrecision: ExpressibleByArgument {
    static var optionHelp: ArgumentHelp {
        ArgumentHelp("Matrix arithmetic: f32 (the reference), mixed (16-bit integer attention; AVX-512 VNNI), bf16 (mixed with "
                     + "bfloat16 encoder products; AVX512-BF16), int8 (fastest, CTranslate2-like accuracy). Default: the fastest that "
                     + "keeps f32's transcripts, here \(WhisperPrecision.preferred.rawValue).")
    }
}
