package io.shardline.spring;

import jakarta.persistence.Entity;
import jakarta.persistence.EntityManager;
import jakarta.persistence.GeneratedValue;
import jakarta.persistence.GenerationType;
import jakarta.persistence.Id;
import jakarta.persistence.ManyToOne;
import jakarta.persistence.PersistenceContext;
import jakarta.persistence.Table;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.data.jpa.repository.JpaRepository;
import org.springframework.data.jpa.repository.config.EnableJpaRepositories;
import org.springframework.stereotype.Service;
import org.springframework.transaction.annotation.Transactional;

/**
 * A small Spring Boot application as application teams write them, run by {@code StarterIT} through the starter: a
 * JPA entity on a sharded table with a {@code SEQUENCE} id, one on a reference table, Spring Data repositories and a
 * read-only transactional service method.
 */
@SpringBootApplication
@EnableJpaRepositories(considerNestedRepositories = true)
public class PetClinicApplication {

    @Entity
    @Table(name = "countries")
    public static class Country {
        @Id
        private String code;

        private String name;

        protected Country() {}

        public Country(String code, String name) {
            this.code = code;
            this.name = name;
        }

        public String getCode() {
            return code;
        }

        public String getName() {
            return name;
        }
    }

    @Entity
    @Table(name = "owners")
    public static class Owner {
        @Id
        @GeneratedValue(strategy = GenerationType.SEQUENCE)
        private Long id;

        private String name;

        @ManyToOne
        private Country country;

        protected Owner() {}

        public Owner(String name, Country country) {
            this.name = name;
            this.country = country;
        }

        public Long getId() {
            return id;
        }

        public String getName() {
            return name;
        }

        public Country getCountry() {
            return country;
        }
    }

    public interface Countries extends JpaRepository<Country, String> {}

    public interface Owners extends JpaRepository<Owner, Long> {}

    @Service
    public static class OwnerReads {
        @PersistenceContext
        private EntityManager entityManager;

        /** Whether the read of owner {@code id} in a read-only transaction ran on a replica (a node in recovery). */
        @Transactional(readOnly = true)
        public boolean readOnAReplica(long id) {
            Object inRecovery = entityManager
                    .createNativeQuery("SELECT pg_is_in_recovery() FROM owners WHERE id = :id")
                    .setParameter("id", id)
                    .getSingleResult();
            return (Boolean) inRecovery;
        }

        @Transactional(readOnly = true)
        public String nameOf(long id) {
            return entityManager.find(Owner.class, id).getName();
        }
    }
}
