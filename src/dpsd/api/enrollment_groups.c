/* Enrollment groups share their handlers with individual enrollments
 * (enrollments.c, query.c, bulk.c); what differs is this descriptor and the
 * model rules for the group kind (model/enrollment.c): no deviceId, no
 * registration state, X.509 by signing certificates or CA references, no
 * TPM. Registration records of a group's devices are read through
 * registrations.c. */
#include "api/enroll_ops.h"

const dps_enroll_desc dps_enroll_group_desc = {
    .kind = DPS_ENROLL_GROUP,
    .coll = DPS_COLL_ENROLLMENT_GROUP,
    .id_field = "enrollmentGroupId",
    .bulk_field = "enrollmentGroups",
    .item_type = "EnrollmentGroup",
    .noun = "enrollment group",
    .decorate = NULL,
};
