/*
 * unsupported.h — part of the msl-cpu kernel header (appended last; see msl_cpu.h).
 *
 * Metal features outside the portable subset (kernels/README.md) that C++ would otherwise accept
 * or reject with an obscure message: each is declared so that using it fails the compile with a
 * message saying so, never a kernel that runs with wrong results. Kernel parameter attributes
 * outside the subset ([[texture(n)]], [[stage_in]], ...) are refused by the pre-pass.
 */

namespace mslcpu {
template <int> constexpr bool never = false;
} // namespace mslcpu

#define MSLCPU_OUTSIDE_SUBSET(what) \
  static_assert(::mslcpu::never<sizeof(T)>, "msl-cpu: " what " are outside the portable subset (kernels/README.md)")

namespace metal {

enum class access { sample, read, write, read_write };
template <class T, access A = access::sample, class U = void> struct texture1d { MSLCPU_OUTSIDE_SUBSET("textures"); };
template <class T, access A = access::sample, class U = void> struct texture2d { MSLCPU_OUTSIDE_SUBSET("textures"); };
template <class T, access A = access::sample, class U = void> struct texture3d { MSLCPU_OUTSIDE_SUBSET("textures"); };
template <class T, access A = access::sample, class U = void> struct texture2d_array { MSLCPU_OUTSIDE_SUBSET("textures"); };
template <class T, access A = access::sample, class U = void> struct texturecube { MSLCPU_OUTSIDE_SUBSET("textures"); };
template <class T, access A = access::read, class U = void> struct texture_buffer { MSLCPU_OUTSIDE_SUBSET("textures"); };
template <class T, access A = access::sample, class U = void> struct depth2d { MSLCPU_OUTSIDE_SUBSET("textures"); };
template <class T = void> struct sampler_t { MSLCPU_OUTSIDE_SUBSET("samplers"); };
using sampler = sampler_t<>;
template <class T = void> struct imageblock { MSLCPU_OUTSIDE_SUBSET("imageblocks"); };
template <class T = void> struct visible_function_table { MSLCPU_OUTSIDE_SUBSET("visible function tables"); };
namespace raytracing {
template <class T = void, class... U> struct intersector { MSLCPU_OUTSIDE_SUBSET("ray-tracing types"); };
template <class T = void, class... U> struct acceleration_structure { MSLCPU_OUTSIDE_SUBSET("ray-tracing types"); };
} // namespace raytracing

/* SIMD-group functions msl-cpu does not implement */
#define MSLCPU_NOT_IMPLEMENTED(name)                                                            \
  template <class T, class... A> T name(T, A...) {                                              \
    static_assert(::mslcpu::never<sizeof(T)>, "msl-cpu: " #name " is not implemented (kernels/README.md lists the SIMD-group functions it runs)"); \
    return T{};                                                                                 \
  }
MSLCPU_NOT_IMPLEMENTED(simd_shuffle_and_fill_up) MSLCPU_NOT_IMPLEMENTED(simd_shuffle_and_fill_down)
MSLCPU_NOT_IMPLEMENTED(quad_shuffle_and_fill_up) MSLCPU_NOT_IMPLEMENTED(quad_shuffle_and_fill_down)
#undef MSLCPU_NOT_IMPLEMENTED

} // namespace metal

#undef MSLCPU_OUTSIDE_SUBSET

/* Render stages, imageblocks and double precision: Metal has no double; C++ would compute in it. */
#define vertex static_assert(false, "msl-cpu runs compute kernels only: vertex functions are outside the portable subset");
#define fragment static_assert(false, "msl-cpu runs compute kernels only: fragment functions are outside the portable subset");
#undef threadgroup_imageblock
#define threadgroup_imageblock static_assert(false, "msl-cpu: imageblocks are outside the portable subset");
#define double msl_cpu_error_Metal_has_no_double_type
