/**
 * The single typed declaration of the native surface: one entry per function of
 * `shim/include/mlxn.h`, in the header's order. `tests/abi_parity.test.ts` checks that this
 * table, the header and both backends name the same functions.
 *
 * Types are bun:ffi type names as strings: Bun 1.4.5 rejects the numeric `FFIType.buffer` enum
 * member in `dlopen` but accepts the string "buffer".
 */
export const symbols = {
  mlxn_abi_version: { args: [], returns: "u32" },
  mlxn_backend_name: { args: [], returns: "cstring" },
  mlxn_last_error: { args: [], returns: "cstring" },

  mlxn_device_open: { args: ["buffer"], returns: "i32" },
  mlxn_device_free: { args: ["ptr"], returns: "void" },
  mlxn_device_name: { args: ["ptr"], returns: "cstring" },
  mlxn_device_limit: { args: ["ptr", "u32"], returns: "u64" },
  mlxn_device_set_option: { args: ["ptr", "cstring", "cstring"], returns: "i32" },

  mlxn_buffer_new: { args: ["ptr", "u64", "buffer"], returns: "i32" },
  mlxn_buffer_contents: { args: ["ptr"], returns: "ptr" },
  mlxn_buffer_length: { args: ["ptr"], returns: "u64" },
  mlxn_buffer_free: { args: ["ptr"], returns: "void" },

  mlxn_library_new_source: { args: ["ptr", "buffer", "u64", "cstring", "buffer"], returns: "i32" },
  mlxn_library_free: { args: ["ptr"], returns: "void" },
  mlxn_pipeline_new: { args: ["ptr", "cstring", "buffer", "u32", "cstring", "buffer"], returns: "i32" },
  mlxn_pipeline_thread_execution_width: { args: ["ptr"], returns: "u32" },
  mlxn_pipeline_max_total_threads_per_threadgroup: { args: ["ptr"], returns: "u32" },
  mlxn_pipeline_static_threadgroup_memory_length: { args: ["ptr"], returns: "u64" },
  mlxn_pipeline_free: { args: ["ptr"], returns: "void" },

  mlxn_command_buffer_new: { args: ["ptr", "buffer"], returns: "i32" },
  mlxn_command_buffer_set_label: { args: ["ptr", "cstring"], returns: "void" },
  mlxn_command_buffer_label: { args: ["ptr"], returns: "cstring" },
  mlxn_command_buffer_commit: { args: ["ptr"], returns: "i32" },
  mlxn_command_buffer_wait: { args: ["ptr"], returns: "i32" },
  mlxn_command_buffer_status: { args: ["ptr"], returns: "i32" },
  mlxn_command_buffer_error: { args: ["ptr"], returns: "cstring" },
  mlxn_command_buffer_gpu_start_time: { args: ["ptr"], returns: "f64" },
  mlxn_command_buffer_gpu_end_time: { args: ["ptr"], returns: "f64" },
  mlxn_command_buffer_encode_signal_event: { args: ["ptr", "ptr", "u64"], returns: "i32" },
  mlxn_command_buffer_encode_wait_event: { args: ["ptr", "ptr", "u64"], returns: "i32" },
  mlxn_command_buffer_free: { args: ["ptr"], returns: "void" },

  mlxn_compute_encoder_new: { args: ["ptr", "buffer"], returns: "i32" },
  mlxn_compute_encoder_set_label: { args: ["ptr", "cstring"], returns: "void" },
  mlxn_compute_encoder_set_pipeline: { args: ["ptr", "ptr"], returns: "void" },
  mlxn_compute_encoder_set_buffer: { args: ["ptr", "ptr", "u64", "u32"], returns: "void" },
  mlxn_compute_encoder_set_bytes: { args: ["ptr", "buffer", "u64", "u32"], returns: "void" },
  mlxn_compute_encoder_set_threadgroup_memory_length: { args: ["ptr", "u64", "u32"], returns: "void" },
  mlxn_compute_encoder_dispatch_threads: {
    args: ["ptr", "u32", "u32", "u32", "u32", "u32", "u32"],
    returns: "void",
  },
  mlxn_compute_encoder_dispatch_threadgroups: {
    args: ["ptr", "u32", "u32", "u32", "u32", "u32", "u32"],
    returns: "void",
  },
  // The record is a prefix of a reusable scratch array, so its length is passed explicitly.
  mlxn_compute_encoder_dispatch_packed: { args: ["ptr", "buffer", "u64"], returns: "void" },
  mlxn_compute_encoder_memory_barrier: { args: ["ptr"], returns: "void" },
  mlxn_compute_encoder_end: { args: ["ptr"], returns: "void" },

  mlxn_event_new: { args: ["ptr", "buffer"], returns: "i32" },
  mlxn_event_signaled_value: { args: ["ptr"], returns: "u64" },
  mlxn_event_free: { args: ["ptr"], returns: "void" },

  mlxn_residency_set_new: { args: ["ptr", "cstring", "buffer"], returns: "i32" },
  mlxn_residency_set_add: { args: ["ptr", "ptr"], returns: "i32" },
  mlxn_residency_set_remove: { args: ["ptr", "ptr"], returns: "i32" },
  mlxn_residency_set_commit: { args: ["ptr"], returns: "i32" },
  mlxn_residency_set_attach: { args: ["ptr", "ptr"], returns: "i32" },
  mlxn_residency_set_free: { args: ["ptr"], returns: "void" },

  mlxn_capture_begin: { args: ["ptr"], returns: "i32" },
  mlxn_capture_end: { args: ["ptr"], returns: "i32" },
} as const;

export type SymbolName = keyof typeof symbols;
