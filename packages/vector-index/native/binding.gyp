{
  "targets": [
    {
      "target_name": "rds_fused",
      "sources": ["fused-kernel.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-Wno-maybe-uninitialized"],
      "libraries": ["-lpthread"]
    }
  ]
}
